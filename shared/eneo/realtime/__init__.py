"""WebSocket connections: who is connected, and relaying answer streams to them."""
