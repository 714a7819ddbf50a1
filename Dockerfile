# facetwin on Debian 12: the facetwind daemon (default) and the facetwin CLI.
#   docker build -t facetwin .
#   docker run --rm -p 8080:8080 -v $PWD/out:/data facetwin \
#     --model /data/face-cnn.ftw --store sqlite:/data/gallery.db --api-keys /data/keys \
#     --listen 0.0.0.0:8080
# (a non-loopback listener needs API keys: see `facetwind hash-key` in the README.)
# The CLI: docker run --rm --entrypoint facetwin facetwin --help
FROM debian:12 AS build
WORKDIR /src
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN bash deploy/install-deps.sh
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFT_BUILD_TESTS=OFF -DFT_BUILD_BENCH=OFF \
 && cmake --build build -j"$(nproc)"

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libopenblas0-pthread libcjson1 libpng16-16 libjpeg62-turbo zlib1g libssl3 \
      libmicrohttpd12 libsqlite3-0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/facetwin /usr/local/bin/facetwin
COPY --from=build /src/build/facetwind /usr/local/bin/facetwind
USER nobody
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -1 <&3 | grep -q ' 200 '"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/facetwind"]
