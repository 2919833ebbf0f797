"""The web pages under /ui: server-rendered HTML (Jinja2), server-drawn SVG charts, no third-party
script, readable with JavaScript off. Page modules (pages/) parse the request, ask reporting/ and the
domain services for data and render a template; nothing here runs SQL."""
