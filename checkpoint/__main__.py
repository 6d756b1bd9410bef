from checkpoint.cli import app

if __name__ == "__main__":  # not when a spawned child process (central's web server) imports it
    app()
