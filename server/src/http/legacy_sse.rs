//! Legacy HTTP+SSE server transport (protocol 2024-11-05): `GET /sse` + `POST /messages`.
