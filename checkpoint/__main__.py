from checkpoint.cli import app

app()
