"""Scale-out runners: policies as data, schedulers and Dramatiq workers (issue 12).

    specs      import files (TOML [[policy]], CSV, JSON lines) <-> policy tables; a stored table -> PolicySettings
    due        when a policy is next due (its schedule and jitter)
    tasks      the Dramatiq broker (RabbitMQ), the per-host limiter (Redis) and the actors, each one
               line into the library: check_policy(name) -> checker.check_one, drain_outbox() -> notify.drain
    scheduler  claims due policies from the store and enqueues their checks
    worker     one Dramatiq worker in this process, or a supervisor that keeps N of them running

Only `tasks`, `scheduler` and `worker` import dramatiq, redis and pika, and only the commands that
need them load those modules: with no [queue] section nothing of it is imported or needed.
"""
