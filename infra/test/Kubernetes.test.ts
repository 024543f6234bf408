import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule"
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor"
import { Deployment } from "kubernetes-models/apps/v1/Deployment"
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget"
import { ConfigMap } from "kubernetes-models/v1/ConfigMap"
import { Secret } from "kubernetes-models/v1/Secret"
import { Service } from "kubernetes-models/v1/Service"
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount"
import { afterAll, describe, expect, it } from "vitest"
import { parse, parseAllDocuments } from "yaml"
import { envName, settingsReference } from "../../apps/reconciler/src/SettingsReference.ts"
import { renderPrometheusRule } from "../kubernetes/render.ts"
import { repoPath } from "./repo.ts"
import { cleanTypeChecks, typeCheck } from "./typecheck.ts"

/**
 * infra/kubernetes rendered by kustomize (`kubectl kustomize`, found or fetched by
 * infra/dev/kubectl.sh), then every object validated twice against the Kubernetes and
 * prometheus-operator schemas: by the kubernetes-models classes (their JSON schemas: types,
 * required fields, formats) and by their TypeScript types (typecheck.ts: also unknown or
 * misspelt keys, which the JSON schemas allow). Then the deployment's promises: two
 * replicas, probes, security context, resources, one rules file, wiring by name and port.
 */

afterAll(cleanTypeChecks)

const kubectl = execFileSync("bash", [repoPath("infra/dev/kubectl.sh")], {
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
}).trim()

interface Manifest {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> }
  readonly [key: string]: unknown
}
const isManifest = (value: unknown): value is Manifest =>
  typeof value === "object" &&
  value !== null &&
  "kind" in value &&
  typeof value.kind === "string" &&
  "apiVersion" in value &&
  "metadata" in value

/**
 * kustomize 5 wraps a Secret's base64 values over several lines; the API server's decoder
 * (Go's) skips the line breaks, the schema's "byte" format does not: they are joined.
 */
const unwrapSecretData = (object: Manifest): Manifest =>
  object.kind === "Secret" && typeof object.data === "object" && object.data !== null
    ? {
        ...object,
        data: Object.fromEntries(Object.entries(object.data).map(([k, v]) => [k, String(v).replace(/\s+/g, "")])),
      }
    : object

const render = (dir: string): ReadonlyArray<Manifest> =>
  parseAllDocuments(execFileSync(kubectl, ["kustomize", repoPath(dir)], { encoding: "utf8", stdio: "pipe" })).map(
    (doc) => {
      const value: unknown = doc.toJS()
      if (!isManifest(value)) throw new Error(`${dir}: not a Kubernetes object: ${JSON.stringify(value)}`)
      return unwrapSecretData(value)
    },
  )

/** Validates with the model class of the object's kind; returns the problem, if any. */
const validateModel = (object: Manifest): string | undefined => {
  const models = [
    Deployment,
    Service,
    ServiceAccount,
    ConfigMap,
    Secret,
    PodDisruptionBudget,
    ServiceMonitor,
    PrometheusRule,
  ]
  const validate = (): void => {
    if (Deployment.is(object)) {
      new Deployment(object).validate()
      return
    }
    if (Service.is(object)) {
      new Service(object).validate()
      return
    }
    if (ServiceAccount.is(object)) {
      new ServiceAccount(object).validate()
      return
    }
    if (ConfigMap.is(object)) {
      new ConfigMap(object).validate()
      return
    }
    if (Secret.is(object)) {
      new Secret(object).validate()
      return
    }
    if (PodDisruptionBudget.is(object)) {
      new PodDisruptionBudget(object).validate()
      return
    }
    if (ServiceMonitor.is(object)) {
      new ServiceMonitor(object).validate()
      return
    }
    if (PrometheusRule.is(object)) {
      new PrometheusRule(object).validate()
      return
    }
    throw new Error(
      `no schema for ${object.apiVersion} ${object.kind} (known: ${models.map((m) => m.kind).join(", ")})`,
    )
  }
  try {
    validate()
    return undefined
  } catch (error) {
    return `${object.kind}/${object.metadata.name}: ${error instanceof Error ? error.message : String(error)}`
  }
}

/** The TypeScript type of each kind, for typecheck.ts. */
const typeOf: Record<string, { readonly module: string; readonly type: string }> = {
  Deployment: { module: "kubernetes-models/apps/v1/Deployment", type: "IDeployment" },
  Service: { module: "kubernetes-models/v1/Service", type: "IService" },
  ServiceAccount: { module: "kubernetes-models/v1/ServiceAccount", type: "IServiceAccount" },
  ConfigMap: { module: "kubernetes-models/v1/ConfigMap", type: "IConfigMap" },
  Secret: { module: "kubernetes-models/v1/Secret", type: "ISecret" },
  PodDisruptionBudget: { module: "kubernetes-models/policy/v1/PodDisruptionBudget", type: "IPodDisruptionBudget" },
  ServiceMonitor: {
    module: "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
    type: "IServiceMonitor",
  },
  PrometheusRule: {
    module: "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule",
    type: "IPrometheusRule",
  },
}
const typeProblems = (label: string, objects: ReadonlyArray<Manifest>) =>
  typeCheck(
    objects.map((object, i) => {
      const schema = typeOf[object.kind]
      if (schema === undefined) throw new Error(`no type for ${object.kind}`)
      return { name: `${label}-${i}-${object.kind}`, ...schema, value: object }
    }),
  )

const overlay = render("infra/kubernetes/overlays/example")
const find = (kind: string): Manifest => {
  const found = overlay.find((o) => o.kind === kind)
  if (found === undefined) throw new Error(`no ${kind} in the overlay`)
  return found
}

/** The object of a kind in the overlay, as its model (validated above). */
const model = <T>(kind: string, make: (object: Manifest) => T | undefined): T => {
  const made = make(find(kind))
  if (made === undefined) throw new Error(`the overlay's ${kind} is not one`)
  return made
}

// The parts of the objects the assertions read, as the schemas (validated first) define them.
const deployment = model("Deployment", (o) => (Deployment.is(o) ? new Deployment(o) : undefined))
const podSpec = deployment.spec?.template.spec
const container = podSpec?.containers[0]

describe("kustomize renders", () => {
  it("the base and the example overlay, with every object the deployment needs", () => {
    expect(
      render("infra/kubernetes/base")
        .map((o) => o.kind)
        .sort(),
    ).toEqual([
      "ConfigMap",
      "Deployment",
      "PodDisruptionBudget",
      "PrometheusRule",
      "Service",
      "ServiceAccount",
      "ServiceMonitor",
    ])
    expect(overlay.map((o) => o.kind).sort()).toEqual([
      "ConfigMap",
      "Deployment",
      "PodDisruptionBudget",
      "PrometheusRule",
      "Secret",
      "Service",
      "ServiceAccount",
      "ServiceMonitor",
    ])
    expect(overlay.every((o) => o.metadata.namespace === "openmeet")).toBe(true)
  })
})

describe("every object against the Kubernetes and prometheus-operator schemas", () => {
  it("passes the models' JSON schemas (base and overlay)", () => {
    const objects = [...render("infra/kubernetes/base"), ...overlay]
    expect(objects.map(validateModel).filter((p) => p !== undefined)).toEqual([])
  })

  it("passes the models' TypeScript types, unknown keys included (base and overlay)", () => {
    expect(typeProblems("base", render("infra/kubernetes/base"))).toEqual([])
    expect(typeProblems("overlay", overlay)).toEqual([])
  })

  it("would fail a wrong type, a missing field or a misspelt key", () => {
    const deploymentObject = find("Deployment")
    const withSpec = (patch: Record<string, unknown>) => ({
      ...deploymentObject,
      spec: Object.assign({}, deploymentObject.spec, patch),
    })
    expect(validateModel(withSpec({ replicas: "2" }))).toContain("replicas")
    expect(validateModel({ ...find("ServiceMonitor"), spec: {} })).toContain("selector")
    const problems = typeProblems("typo", [withSpec({ replica: 2 })])
    expect(problems.join("\n")).toContain("replica")
  })
})

describe("the deployment", () => {
  it("runs two replicas of `reconciler run` that survive a drain one at a time", () => {
    expect(deployment.spec?.replicas).toBe(2)
    expect(container?.args).toEqual(["run"])
    expect(container?.image).toBe("registry.example.org/openmeet/openmeet-reconciler:0.1.0")
    const object = find("PodDisruptionBudget")
    const pdb = new PodDisruptionBudget(PodDisruptionBudget.is(object) ? object : undefined)
    expect(pdb.spec?.minAvailable).toBe(1)
    expect(deployment.spec?.template.metadata?.labels).toMatchObject(pdb.spec?.selector?.matchLabels ?? { none: "" })
    expect(deployment.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0)
  })

  it("probes /healthz (startup, liveness) and /readyz (readiness) on the HTTP port", () => {
    expect(container?.startupProbe?.httpGet?.path).toBe("/healthz")
    expect(container?.livenessProbe?.httpGet?.path).toBe("/healthz")
    expect(container?.readinessProbe?.httpGet?.path).toBe("/readyz")
    const http = container?.ports?.find((p) => p.name === "http")
    expect([container?.startupProbe?.httpGet?.port, container?.readinessProbe?.httpGet?.port]).toEqual(["http", "http"])
    expect(String(http?.containerPort)).toBe(settings().HTTP_PORT)
    expect(String(container?.ports?.find((p) => p.name === "appservice")?.containerPort)).toBe(
      settings().APPSERVICE_PORT,
    )
  })

  it("runs read-only, as a non-root user, without privilege escalation or capabilities", () => {
    expect(podSpec?.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    })
    expect(container?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ["ALL"] },
    })
    expect(podSpec?.automountServiceAccountToken).toBe(false)
    // The image's user (Dockerfile) is the one Kubernetes runs.
    expect(readFileSync(repoPath("Dockerfile"), "utf8")).toMatch(/^USER 1000:1000$/m)
  })

  it("requests the measured footprint (docs/benchmarks.md) and limits memory above its peak", () => {
    expect(container?.resources).toEqual({ requests: { cpu: "100m", memory: "384Mi" }, limits: { memory: "512Mi" } })
    expect(readFileSync(repoPath("docs/benchmarks.md"), "utf8")).toMatch(/## Footprint/)
  })

  it("takes its settings from the ConfigMap and the Secret, all documented, the registration mounted where it points", () => {
    const documented = new Set(settingsReference.map((s) => envName(s.name)))
    const names = [...Object.keys(settings()), ...(container?.env ?? []).map((e) => e.name)]
    expect(names.filter((name) => !documented.has(name))).toEqual([])
    expect(names).toEqual(
      expect.arrayContaining(["DATABASE_URL", "TENANTS_B64", "MATRIX_HOMESERVER_URL", "APPSERVICE_REGISTRATION"]),
    )
    const secretObject = find("Secret")
    const secret = {
      metadata: secretObject.metadata,
      data: new Secret(Secret.is(secretObject) ? secretObject : undefined).data ?? {},
    }
    expect(Object.keys(secret.data).sort()).toEqual(["DATABASE_URL", "TENANTS_B64", "registration.yaml"])
    expect((container?.env ?? []).map((e) => e.valueFrom?.secretKeyRef?.name)).toEqual([
      secret.metadata.name,
      secret.metadata.name,
    ])
    expect(container?.envFrom?.[0]?.configMapRef?.name).toBe(find("ConfigMap").metadata.name)
    const registration = podSpec?.volumes?.find((v) => v.name === "registration")
    expect(registration?.secret?.secretName).toBe(secret.metadata.name)
    const mount = container?.volumeMounts?.find((m) => m.name === "registration")
    expect(`${mount?.mountPath}/${registration?.secret?.items?.[0]?.path}`).toBe(settings().APPSERVICE_REGISTRATION)
    // The example registration names the Service's appservice port.
    const example: unknown = parse(Buffer.from(secret.data["registration.yaml"] ?? "", "base64").toString("utf8"))
    const url = typeof example === "object" && example !== null && "url" in example ? String(example.url) : ""
    expect(new URL(url).port).toBe(settings().APPSERVICE_PORT)
  })
})

describe("monitoring", () => {
  it("the ServiceMonitor scrapes the Service's http port as job openmeet-reconciler", () => {
    const monitor = model("ServiceMonitor", (o) => (ServiceMonitor.is(o) ? new ServiceMonitor(o) : undefined))
    const service = model("Service", (o) => (Service.is(o) ? new Service(o) : undefined))
    expect(service.metadata?.labels).toMatchObject(monitor.spec?.selector.matchLabels ?? { none: "" })
    expect(service.spec?.ports?.map((p) => p.name)).toContain(monitor.spec?.endpoints?.[0]?.port)
    expect(monitor.spec?.endpoints?.[0]?.path).toBe("/metrics")
    expect(service.metadata?.labels?.[monitor.spec?.jobLabel ?? ""]).toBe("openmeet-reconciler")
    expect(deployment.spec?.template.metadata?.labels).toMatchObject(service.spec?.selector ?? { none: "" })
  })

  it("the PrometheusRule carries infra/prometheus/alerts.yaml's groups unchanged", () => {
    const rules = parse(readFileSync(repoPath("infra/prometheus/alerts.yaml"), "utf8"))
    expect(find("PrometheusRule").spec).toEqual({ groups: rules.groups })
    // The file is what render.ts writes (compared as data: a formatter may re-indent it).
    expect(parse(readFileSync(repoPath("infra/kubernetes/base/prometheusrule.yaml"), "utf8"))).toEqual(
      parse(renderPrometheusRule()),
    )
  })
})

/** The ConfigMap's settings. */
function settings(): Record<string, string> {
  const configMap = model("ConfigMap", (o) => (ConfigMap.is(o) ? new ConfigMap(o) : undefined))
  return { ...(configMap.data ?? {}) }
}
