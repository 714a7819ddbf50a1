# facetwin: the library and the `facetwin` CLI on Debian 12.
# docker build -t facetwin . && docker run --rm -v /path/to/shared:/shared facetwin \
#   train --data /shared/datasets/mnist-10k --arch seed-mnist --out /tmp/m.ftw
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
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/facetwin /usr/local/bin/facetwin
USER nobody
ENTRYPOINT ["/usr/local/bin/facetwin"]
