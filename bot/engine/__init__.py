"""The pure engine: snapshot + policy → plan. No I/O."""

from bot.engine.plan import Decision, NodeReport, Plan, build_plan
from bot.engine.recommend import ContainerRecommendation, Step, recommend

__all__ = ["Decision", "NodeReport", "Plan", "build_plan", "ContainerRecommendation", "Step", "recommend"]
