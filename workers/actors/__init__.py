"""The worker process: dramatiq workers that run the jobs (`workers.jobs`), woken by
appends (LISTEN/NOTIFY) and a tick, and the daily retention."""
