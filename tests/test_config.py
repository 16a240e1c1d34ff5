"""config.toml: typed settings, defaults, path resolution, and one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.config import User, load_settings, parse_schedule
from watcher.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


FULL = """
[store]
url = "sqlite:///data/watch.db"
bodies_dir = "data/bodies"

[fetch]
user_agent = "policy-watcher/test"
timeout_connect = 3
timeout_read = 7.5
retries = 1
max_bytes = 100000
per_host = 3
concurrency = 8
failures_before_alert = 5

[smtp]
host = "mail.example.com"
starttls = true
username = "watcher"
password_env = "TEST_SMTP_SECRET"
from = "policy-watcher <watcher@example.com>"

[notify]
staff = ["privacy@example.com"]
language = "en"
digest_time = "8:30"

[[policy]]
name = "enmono"
url = "https://example.com/privacy"
select = "main"
remove = [".banner"]
schedule = "every 6h"
jitter = "10m"
users = ["user@example.com"]

[[policy]]
name = "local"
url = "pages/privacy.html"
schedule = "0 9 * * 1"
confirm = 2
notify_users = "never"
language = "ja"
users_file = "users.csv"
"""


def test_full_config_is_typed_and_resolved(tmp_path, monkeypatch):
    (tmp_path / "users.csv").write_text("email,language\na@example.com,en\nb@example.com\n", encoding="utf-8")
    settings = load_settings(write(tmp_path, FULL))
    assert settings.store.url == f"sqlite:///{tmp_path}/data/watch.db"
    assert settings.store.bodies_dir == tmp_path / "data" / "bodies"
    assert settings.fetch.timeout_read == 7.5 and settings.fetch.per_host == 3
    assert settings.fetch.failures_before_alert == 5
    smtp = settings.smtp
    assert smtp is not None and smtp.starttls and smtp.port == 587 and smtp.sender.endswith("<watcher@example.com>")
    monkeypatch.setenv("TEST_SMTP_SECRET", "s3cret")
    assert smtp.password == "s3cret"
    assert settings.notify.language == "en" and settings.notify.digest_time == "08:30"
    assert settings.notify.outbox_dir == tmp_path / "snapshots" / "outbox"
    enmono, local = settings.policies
    assert enmono.schedule.kind == "interval" and enmono.schedule.seconds == 6 * 3600
    assert enmono.jitter == 600 and enmono.select == "main" and enmono.remove == [".banner"]
    assert enmono.language == "en"          # inherits [notify].language
    assert local.url == (tmp_path / "pages" / "privacy.html").as_uri()
    assert local.schedule.kind == "cron" and local.confirm == 2 and local.notify_users == "never"
    assert local.recipients() == [User("a@example.com", "en"), User("b@example.com", "ja")]
    assert settings.policy("local") is local


def test_defaults_when_sections_are_absent(tmp_path):
    settings = load_settings(write(tmp_path, '[[policy]]\nname = "a"\nurl = "http://127.0.0.1:9/p"\n'))
    assert settings.smtp is None
    assert settings.store.url == f"sqlite:///{tmp_path}/snapshots/watch.db"
    assert settings.store.bodies_dir == tmp_path / "snapshots" / "bodies"
    f = settings.fetch
    assert (f.per_host, f.concurrency, f.failures_before_alert) == (2, 16, 3)
    assert f.user_agent.startswith("policy-watcher/")
    p = settings.policies[0]
    assert p.schedule.text == "every 6h" and p.confirm == 1 and p.notify_users == "auto" and p.language == "ja"


@pytest.mark.parametrize(("toml", "message"), [
    ('[[policy]]\nname = "a"\nurl = "https://x.example/p"\nschedule = "every 6 parsecs"\n',
     'config.toml: policy[1].schedule: cannot parse "every 6 parsecs"'),
    ('[[policy]]\nname = "a"\nurl = "https://x.example/p"\n[[policy]]\nname = "b"\nurl = "https://x.example/q"\n'
     'schedule = "61 * * * *"\n', 'config.toml: policy[2].schedule: cannot parse "61 * * * *"'),
    ('[fetch]\ntimeout = 3\n', "config.toml: fetch.timeout: unknown key"),
    ('[[policy]]\nname = "a"\nurl = "https://x.example/p"\ncolour = "red"\n', "config.toml: policy[1].colour: unknown key"),
    ('[[policy]]\nname = "a"\nurl = "ftp://x.example/p"\n', "config.toml: policy[1].url: unsupported URL scheme 'ftp'"),
    ('[[policy]]\nname = "a"\nurl = "https:///p"\n', "config.toml: policy[1].url: no host"),
    ('[[policy]]\nname = "a"\nurl = "https://x.example/p"\n[[policy]]\nname = "a"\nurl = "https://y.example/p"\n',
     "config.toml: policy[2].name: duplicate policy name 'a' (first at policy[1])"),
    ('[fetch]\nretries = "3"\n', "config.toml: fetch.retries: must be an integer, not a string"),
    ('[fetch]\nper_host = 0\n', "config.toml: fetch.per_host: must be"),
    ('[smtp]\nstarttls = "yes"\n', "config.toml: smtp.starttls: must be true or false"),
    ('[smtp]\npassword = "hunter2"\n', "config.toml: smtp.password: secrets are not read from the file"),
    ('[smtp]\nssl = true\nstarttls = true\n', "config.toml: smtp.starttls: ssl and starttls are exclusive"),
    ('[notify]\nlanguage = "fr"\n', "config.toml: notify.language: must be one of 'ja', 'en'"),
    ('[notify]\nstaff = ["not-an-address"]\n', "config.toml: notify.staff[0]: not an email address"),
    ('[notify]\ndigest_time = "25:00"\n', "config.toml: notify.digest_time: must be HH:MM"),
    ('[store]\nurl = "mysql://x/y"\n', "config.toml: store.url: unsupported database"),
    ('[[policy]]\nurl = "https://x.example/p"\n', "config.toml: policy[1].name: missing (required)"),
    ('[[policy]]\nname = "a@b"\nurl = "https://x.example/p"\n', "config.toml: policy[1].name: 'a@b': use letters"),
    ('[[policy]]\nname = "a"\nurl = "https://x.example/p"\nconfirm = 0\n', "config.toml: policy[1].confirm: must be"),
    ('[[policy]]\nname = "a"\nurl = "https://x.example/p"\nnotify_users = "sometimes"\n',
     "config.toml: policy[1].notify_users: must be one of"),
    ('[[policy]]\nname = "a"\nurl = "https://x.example/p"\nusers_file = "missing.csv"\n',
     "config.toml: policy[1].users_file: file not found"),
    ('[[policy]]\nname = "a"\nurl = "https://x.example/p"\njitter = "soon"\n',
     'config.toml: policy[1].jitter: cannot parse "soon"'),
    ("policy = 3\n", "config.toml: policy: must be an array of tables"),
    ("[store\n", "config.toml: invalid TOML"),
])
def test_mistakes_name_the_key(tmp_path, monkeypatch, toml, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_settings("config.toml")
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_bad_users_file_row_is_named(tmp_path):
    (tmp_path / "u.csv").write_text("ok@example.com,ja\nbroken-row,en\n", encoding="utf-8")
    path = write(tmp_path, '[[policy]]\nname = "a"\nurl = "https://x.example/p"\nusers_file = "u.csv"\n')
    with pytest.raises(ConfigError, match=r"policy\[1\]\.users_file: .*line 2: not an email address"):
        load_settings(path)


def test_missing_file_and_unknown_policy(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")
    settings = load_settings(write(tmp_path, '[[policy]]\nname = "a"\nurl = "https://x.example/p"\n'))
    with pytest.raises(ConfigError, match="no policy named 'b' \\(known: a\\)"):
        settings.policy("b")


def test_unknown_policy_among_thousands_is_a_short_line(tmp_path):
    blocks = "".join(f'[[policy]]\nname = "shop-{i}"\nurl = "https://x.example/{i}"\n' for i in range(2000))
    settings = load_settings(write(tmp_path, blocks))
    with pytest.raises(ConfigError) as info:
        settings.policy("shop-1234x")
    message = str(info.value)
    assert "shop-1234" in message and "closest of 2000 known" in message
    assert "shop-999," not in message and len(message) < 200 and "\n" not in message


@pytest.mark.parametrize(("text", "kind", "seconds"), [
    ("every 6h", "interval", 21600), ("every 30m", "interval", 1800), ("every 1d", "interval", 86400),
    ("every 2 hours", "interval", 7200), ("Every 90 seconds", "interval", 90), ("*/15 * * * *", "cron", 0),
    ("0 9 * * mon-fri", "cron", 0),
])
def test_schedules(text, kind, seconds):
    schedule = parse_schedule(text)
    assert schedule.kind == kind and schedule.seconds == seconds


@pytest.mark.parametrize("text", ["every", "every 0h", "every 6 parsecs", "6h", "* * * *", "0 25 * * *", "hourly-ish"])
def test_bad_schedules(text):
    with pytest.raises(ValueError):
        parse_schedule(text)


def test_committed_example_config_is_valid():
    settings = load_settings(ROOT / "config.toml")
    assert settings.policies, "the quick start needs at least one policy"
    assert len({p.name for p in settings.policies}) == len(settings.policies)


def test_cli_reports_config_mistake_in_one_line(tmp_path, watch_subprocess):
    # a real `python -m watcher` process (the rest of the suite runs `watch` in process): the exit
    # status and the whole of stderr a user sees, nothing before or after the one line
    write(tmp_path, '[[policy]]\nname = "a"\nurl = "https://x.example/p"\nschedule = "every 6 parsecs"\n')
    proc = watch_subprocess("check", "--config", "config.toml", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == 'watch: config.toml: policy[1].schedule: cannot parse "every 6 parsecs" ' \
                                  '(use "every 6h", "every 30m", "every 1d" or a 5-field cron expression such as ' \
                                  '"0 9 * * 1")'


def test_schedule_has_a_floor(tmp_path):
    from watcher.config import load_settings
    from watcher.errors import ConfigError

    cfg = tmp_path / "config.toml"
    cfg.write_text('[[policy]]\nname = "a"\nurl = "https://x.example/p"\nschedule = "every 10s"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"policy\[1\]\.schedule: \"every 10s\" is too frequent"):
        load_settings(cfg)


def test_addresses_are_checked_by_the_mailer_parser(tmp_path):
    from watcher.config import load_settings
    from watcher.errors import ConfigError

    cfg = tmp_path / "config.toml"
    cfg.write_text('[[policy]]\nname = "a"\nurl = "https://x.example/p"\nschedule = "every 6h"\n'
                   'users = ["a,b@example.com"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"policy\[1\]\.users\[0\]: not an email address"):
        load_settings(cfg)


def test_users_file_broken_after_start_keeps_the_last_good_list(tmp_path):
    from watcher.config import load_settings

    users = tmp_path / "users.csv"
    users.write_text("email,language\nsato@example.com,ja\n", encoding="utf-8")
    cfg = tmp_path / "config.toml"
    cfg.write_text('[[policy]]\nname = "a"\nurl = "https://x.example/p"\nschedule = "every 6h"\n'
                   'users_file = "users.csv"\n', encoding="utf-8")
    policy = load_settings(cfg).policies[0]
    users.write_text("email,language\nnot-an-address,ja\n", encoding="utf-8")
    assert [u.email for u in policy.recipients()] == ["sato@example.com"]
    users.write_text("email,language\nsato@example.com,ja\nsmith@example.com,en\n", encoding="utf-8")
    assert [u.email for u in policy.recipients()] == ["sato@example.com", "smith@example.com"]


@pytest.mark.parametrize("field,value,where", [("select", "main[", "policy[1].select"),
                                               ("remove", ["div::", ".ok"], "policy[1].remove[0]")])
def test_css_selectors_are_checked_at_load(tmp_path, field, value, where):
    import json

    from watcher.config import load_settings
    from watcher.errors import ConfigError

    cfg = tmp_path / "config.toml"
    cfg.write_text('[[policy]]\nname = "a"\nurl = "https://x.example/p"\nschedule = "every 6h"\n'
                   f"{field} = {json.dumps(value)}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{where.replace('[', '.').replace(']', '.')}: not a CSS selector"):
        load_settings(cfg)
