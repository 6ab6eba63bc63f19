"""The read-only dashboard and JSON API (``coinlstm serve``): routers for pages, the API, auth
and static files over the database's query layer. It imports no command, job or runtime
module."""
