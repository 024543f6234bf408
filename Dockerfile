# syntax=docker/dockerfile:1
# The reconciler's image: `docker build -t openmeet-reconciler .` (docs/deploy.md).
#
# No build step: Node >= 22.18 strips TypeScript's types when it loads a .ts file, and the
# sources use only erasable syntax (tsconfig's erasableSyntaxOnly), so the image runs the
# very files the tests run. Workspace packages are symlinked by pnpm, so their real paths
# are outside node_modules, where Node agrees to strip types.
#
# Two stages: `deps` installs production dependencies only (pnpm --prod, the lockfile
# frozen) for the reconciler and the workspace packages it imports; the runtime stage
# copies the result onto a clean Node slim image and runs as an unprivileged user.
# Size budget (docs/deploy.md): 360 MB uncompressed, of which the application is 130 MB;
# infra/test/Image.test.ts checks the application's share.
ARG NODE_IMAGE=node:22.23.5-bookworm-slim

FROM ${NODE_IMAGE} AS deps
ENV CI=true PNPM_HOME=/pnpm NPM_CONFIG_UPDATE_NOTIFIER=false
RUN npm install --global --no-audit --no-fund pnpm@10.34.9
WORKDIR /app
# The manifests first: the dependency layer is rebuilt only when one of them changes.
# Those of the reconciler and the workspace packages it depends on: a filtered install
# checks only their part of the lockfile, and the others' (tests, infra checks) would
# bring their packages into the store.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY apps/reconciler/package.json apps/reconciler/
COPY packages/core/package.json packages/core/
COPY packages/engine/package.json packages/engine/
COPY packages/matrix/package.json packages/matrix/
COPY packages/observability/package.json packages/observability/
COPY packages/openmeet/package.json packages/openmeet/
COPY infra/stubs/matrix-sdk-crypto-nodejs infra/stubs/matrix-sdk-crypto-nodejs
RUN pnpm install --frozen-lockfile --prod --ignore-scripts --filter "@openmeet-reconciler/reconciler..."
COPY packages/core/src packages/core/src
COPY packages/engine/src packages/engine/src
COPY packages/matrix/src packages/matrix/src
COPY packages/observability/src packages/observability/src
COPY packages/openmeet/src packages/openmeet/src
COPY apps/reconciler/src apps/reconciler/src
COPY apps/reconciler/bin apps/reconciler/bin
COPY apps/reconciler/dev apps/reconciler/dev

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="openmeet-matrix-reconciler" \
      org.opencontainers.image.description="Keeps OpenMeet's Matrix rooms, memberships and power levels as OpenMeet's database says." \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    APPSERVICE_PORT=9000 \
    HTTP_PORT=9090
WORKDIR /app
COPY --from=deps --chown=root:root /app /app
# The image's `node` user, by number so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
EXPOSE 9000 9090
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 9090) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/apps/reconciler/src/main.ts"]
CMD ["run"]
