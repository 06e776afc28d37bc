"""The dev-chat vocabulary: slot words and the templates that use them, compiled for filling."""

from __future__ import annotations

import string
from collections.abc import Sequence

SLOTS: dict[str, tuple[str, ...]] = {
    "svc": ("api", "gateway", "worker", "billing", "auth", "scheduler", "ingest", "search",
            "webhooks", "frontend", "projector", "notifier"),
    "env": ("staging", "prod", "dev", "the preview env", "canary", "eu-west", "us-east"),
    "job": ("lint", "unit-tests", "integration", "build", "deploy", "e2e", "docker-build",
            "release", "migrations", "nightly"),
    "thing": ("the CI pipeline", "the migration", "the nightly build", "the release branch",
              "the docker image", "the rate limiter", "the flaky test", "the cache layer",
              "the new dashboard", "the on-call rotation", "the session store",
              "the webhook retries", "the Postgres upgrade", "the token budget"),
    "file": ("src/gateway/session.py", "src/routing/session-key.ts", ".github/workflows/ci.yml",
             "docker-compose.yml", "alembic/env.py", "config.json", "Makefile",
             "pyproject.toml", "src/lib/db.ts", "README.md", "gateway/run.py",
             "src/queue-processor.ts", "deploy/values.yaml"),
    "err": ("ECONNRESET", "TimeoutError", "a 502 from the load balancer", "OOMKilled",
            "KeyError: 'session_id'", "permission denied (publickey)", "exit code 137",
            "a flaky assertion", "context length exceeded", "429 Too Many Requests",
            "deadlock detected", "SSL: CERTIFICATE_VERIFY_FAILED"),
    "num": ("12", "42", "57", "101", "128", "233", "404", "512", "814", "1024", "2048",
            "19929", "20078", "144", "7"),
    "who": ("@alice", "@bob", "@carol", "@dave", "@erin", "@frank", "@grace", "@judy"),
    "when": ("5 minutes ago", "an hour ago", "today", "yesterday", "this morning",
             "last night", "since Friday", "after the last deploy"),
    "tool": ("pytest", "ruff", "mypy", "docker compose", "terraform", "kubectl", "psql",
             "git bisect", "alembic", "pnpm", "gh"),
    "pct": ("3%", "12%", "40%", "85%", "99.9%", "2x", "10x"),
}

SHORT = (
    "lgtm", "thanks!", "ok, on it", "anyone around?", "+1", "nice 🎉", "brb", "same here",
    "can you rerun the {job} job?", "what's the status of {thing}?", "{thing} is failing again",
    "deploying {svc} to {env} now", "{svc} is down on {env}", "who owns {file}?",
    "PR #{num} is ready for review", "seeing {err} on {env}", "did anyone touch {file} {when}?",
    "{who} can you take a look?", "merged, thanks {who}", "rolling back {svc}",
    "is {env} frozen today?", "the {job} job is stuck", "how do I run {tool} locally?",
    "can you summarize what changed in {thing}?", "{tool} says {err}", "ping {who}",
    "{svc} latency is up {pct} {when}", "can you open an issue for {thing}?",
    "does {thing} block the release?", "where are the logs for {svc}?", "wfm", "on it 👍",
    "can you help me set up {thing}?", "why is {job} red?", "I'll pair with {who} on {thing}",
    "fixed in #{num}", "reverting #{num}", "what does {err} mean here?", "{svc} is back up",
)
SENTENCES = (
    "I think the problem is in {file}, the retry loop never backs off.",
    "The {job} job started failing {when} with {err}.",
    "We should probably split {thing} into smaller steps before the release.",
    "I tried running {tool} locally and it passes, so it might be an environment thing.",
    "{svc} on {env} has been flapping {when}, the health check times out.",
    "Can we agree to freeze {env} until {thing} is sorted out?",
    "The numbers look better: p99 is down {pct} since the change.",
    "I left a few comments on PR #{num}, mostly naming and one missing test.",
    "Honestly the simplest fix is to pin the version in {file} for now.",
    "If nobody objects I'll merge it after lunch.",
    "The last three runs of {job} were green, so maybe it was a flake.",
    "We need a migration for this, otherwise {svc} will read stale rows.",
    "Let's keep the old behaviour behind a flag until {thing} has settled.",
    "I'm not sure {who} knows about this yet.",
    "It only happens when two users message the bot at the same time.",
    "The session for that channel is already over 200k tokens, which explains the slowness.",
    "Context from #general doesn't show up when I ask in #requests.",
    "Can we get {svc} metrics into the dashboard too?",
)
BOT_OPENERS = (
    "Sure!", "Got it.", "Here's what I found:", "Done.", "Good question.", "I checked:",
    "Short answer: yes.", "Short answer: not yet.", "Looking at the history,", "On it.",
)
BOT_SENTENCES = (
    "The {job} job failed on step 3 with {err}; the previous run was green.",
    "I'd start with {file}: the timeout there is lower than what {svc} needs on {env}.",
    "{thing} is about {pct} done; the remaining work is the rollout to {env}.",
    "I opened #{num} with the fix and asked {who} for review.",
    "You can run `{tool}` locally with the same settings as CI.",
    "Restarting {svc} cleared the error, but I'd keep an eye on it.",
    "The change in #{num} touched {file}, which would explain {err}.",
    "I'll summarize the thread so far and post it in the channel.",
    "Nothing changed in {svc} since {when}, so this looks like an infrastructure issue.",
    "Here is the relevant part of the log; the first error is the one that matters.",
    "I can set up {thing} for you: it needs a workflow file, a token and one approval.",
    "Tests pass on my side; the failure only reproduces on {env}.",
)
CODE = (
    "```python\nsession = store.get(key)\nif session is None:\n"
    "    session = store.create(key)\n```",
    "```yaml\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
    "      - uses: actions/checkout@v4\n      - run: make test\n```",
    "```\n$ {tool} --version\n{tool} 1.{num}.0\n```",
    "```sql\nselect chat, count(*) from events group by chat order by 2 desc limit 10;\n```",
)
THREAD_NAMES = (
    "CI pipeline setup", "flaky {job} job", "{svc} on {env}", "release planning",
    "PR #{num} review", "{err} investigation", "incident {when}", "{thing}",
)
EDIT_SUFFIXES = ("", " (edit: typo)", " — nvm, found it", " *fixed link", " edit: on {env}")

# A compiled template: a format string of positional fields, and the slot kind of each field.
Template = tuple[str, tuple[str, ...]]


def compile_template(template: str) -> Template:
    """'{svc} is down on {env}' -> ('{} is down on {}', ('svc', 'env')): filled positionally."""
    kinds = tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)
    fmt = template.replace("{", "{{").replace("}", "}}")
    for kind in SLOTS:
        fmt = fmt.replace("{{" + kind + "}}", "{}")
    return fmt, kinds


def compile_all(templates: Sequence[str]) -> tuple[Template, ...]:
    """Every template of `templates`, compiled."""
    return tuple(compile_template(template) for template in templates)
