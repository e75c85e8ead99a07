"""The GitOps adapter: find the line in Git that sizes each container, and patch only that.

    inventory = discover(repo, config)            # what the repo holds
    mapping = map_changes(inventory, changes)     # change → target, or the reason it has none
    result = apply(repo, mapping, write=False)    # edited bytes, verified by re-parsing
"""

from bot.gitops.apply import FileEdit, PatchResult, apply, unified_diff
from bot.gitops.config import ChartPaths, ExplicitMapping, GitOpsConfig, config_from_policy
from bot.gitops.discover import Inventory, discover
from bot.gitops.mapping import MappingResult, Target, map_changes, target_for

__all__ = [
    "FileEdit", "PatchResult", "apply", "unified_diff", "ChartPaths", "ExplicitMapping", "GitOpsConfig",
    "config_from_policy", "Inventory", "discover", "MappingResult", "Target", "map_changes", "target_for",
]
