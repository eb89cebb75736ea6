"""devhost: a one-machine Azure Functions + Durable Functions host for any df.DFApp."""
