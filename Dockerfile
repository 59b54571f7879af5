# syntax=docker/dockerfile:1
# The tenantry service: the package and its runtime dependencies, run as a user of its own.
#   docker build -t tenantry .
#   docker run -p 8000:8000 --env-file tenantry.env -v tenantry-data:/var/lib/tenantry tenantry
# The image defaults to TENANTRY_ENV=production, which refuses to start without a secret key,
# an https TENANTRY_PUBLIC_URL and a real mailer (docs/deployment.md, .env.example).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The package alone (no test extras); the source tree does not stay in the image.
COPY pyproject.toml README.md /tmp/tenantry/
COPY src /tmp/tenantry/src
RUN pip install /tmp/tenantry && rm -rf /tmp/tenantry

# No shell, no password; its home is the working directory, where the SQLite default
# (tenantry.db) and a generated secret would live: mount a volume there to keep them.
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/tenantry --create-home \
    --shell /usr/sbin/nologin tenantry
USER tenantry
WORKDIR /var/lib/tenantry
VOLUME /var/lib/tenantry

ENV TENANTRY_ENV=production
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["python", "-c", \
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# uvicorn stops on SIGTERM after the requests in flight; the dispatcher threads stop with it.
CMD ["tenantry", "serve", "--host", "0.0.0.0", "--port", "8000"]
