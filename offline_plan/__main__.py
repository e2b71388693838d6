import gc

# A short-lived process that loads very large SDKs (pulumi_databricks, pulumi_azure_native): the cyclic
# garbage collector would scan their module graph again and again while they import, and once more at
# exit, over a second in all, to free a few megabytes. So it stays off, and everything is frozen before
# the interpreter tears down. (offline_plan/worker.py does the same.)
gc.disable()

from offline_plan.cli import main  # noqa: E402 - after the collector is off

status = main()
gc.freeze()
raise SystemExit(status)
