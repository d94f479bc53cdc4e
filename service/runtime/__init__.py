"""Entry points: `aws_lambda.handler` in Lambda, `local` on a laptop (`make dev`)."""
