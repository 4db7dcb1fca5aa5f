"""A tiny HTTP service: its SBOM is made while it is built and signed before it is deployed."""
import os

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return {"service": "example", "version": os.environ.get("APP_VERSION", "dev")}


@app.get("/healthz")
def healthz():
    return "ok\n"
