"""The app's own Invoke tasks (``invoke hello``): nothing to do with wsgideploy."""
from invoke import task


@task
def hello(c):
    """Say hello (the app's own task)."""
    print("hello from the app's own tasks.py")
