"""The floor: a hello-world FastAPI + Mangum handler with one async health route.

Behind a named stage the gateway puts `/{stage}` in front of the path; Mangum's own
base-path setting strips it, as a hello world would do it.
"""

import os

from fastapi import FastAPI
from mangum import Mangum

app = FastAPI()


@app.get("/v1/manage/hc")
async def health():  # type: ignore[no-untyped-def]  # a hello world, as people write it
    return {"status": "ok"}


stage = os.environ.get("AWS_API_GW_STAGE_NAME", "$default")
handler = Mangum(app, lifespan="off", api_gateway_base_path="/" if stage == "$default" else f"/{stage}")
