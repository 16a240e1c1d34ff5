from watcher.cli import run

run()
