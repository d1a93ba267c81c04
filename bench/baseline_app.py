"""The baseline for service benchmarks: a trivial FastAPI app served the same
way (uvicorn, one worker), so a service's figure is read next to what the
framework alone costs on this machine, in the same run."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
