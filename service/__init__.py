"""The FastAPI service that runs on AWS Lambda and on a laptop."""
