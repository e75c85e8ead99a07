import requests
from tests.github.support import TOKEN

def test_issue_roundtrip(github, repo):
    github.tokens["tok_octocat"] = ("octocat", False)
    github.tokens["tok_reader"] = ("reader", False)
    i = repo.create_issue(title="Dash", body="hello", labels=["rightsizer-dashboard"])
    assert i.number == 1
    found = list(repo.get_issues(state="all", labels=["rightsizer-dashboard"]))
    assert [x.number for x in found] == [1]
    i.edit(body="bot edit")
    r = requests.patch(f"{github.base_url}/repos/octo-org/octo-repo/issues/1", json={"body": "octo edit"},
                       headers={"Authorization": "token tok_octocat"}, timeout=5)
    assert r.status_code == 200
    r = requests.patch(f"{github.base_url}/repos/octo-org/octo-repo/issues/1", json={"body": "reader edit"},
                       headers={"Authorization": "token tok_reader"}, timeout=5)
    assert r.status_code == 403
    github.violations[:] = [v for v in github.violations if "403" not in v]
    evs = list(repo.get_events())
    print([(e.type, e.actor.login, e.payload.get("action"), e.payload.get("changes")) for e in evs])
    assert evs[0].actor.login == "octocat" and evs[0].payload["changes"]["body"]["from"] == "bot edit"
    i2 = repo.get_issue(1)
    assert i2.body == "octo edit"
