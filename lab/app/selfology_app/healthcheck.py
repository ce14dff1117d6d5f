"""Docker HEALTHCHECK: exit 0 when /health answers 200; print what it answered, so that
`docker inspect` (and a refused deploy) shows why a container is unhealthy."""
import sys
import urllib.error
import urllib.request

try:
    with urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=2) as response:
        print(response.read().decode()[:500])
        sys.exit(0)
except urllib.error.HTTPError as exc:
    print(f"HTTP {exc.code}: {exc.read().decode()[:500]}")
except Exception as exc:
    print(f"no answer: {exc}")
sys.exit(1)
