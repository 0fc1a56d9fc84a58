// Package kubeclass classifies Kubernetes operations for the policy
// engine: the manifests kubectl_apply sends (Manifest) and single API
// requests (Request: kubectl_get, kubectl_delete, kubectl_logs, the API
// proxy). It reports them as policy.Facts with Kubernetes set: one part
// per object or request, its Kinds the verbs it may use (get, list,
// watch, create, update, patch, delete, deletecollection), its resources
// the Kubernetes resources it reads or writes (Kind "deployments.apps",
// Namespace, Name), and its Risks what it asks for beyond its verbs
// (privileged, host-path, host-network, capabilities, rbac, secret,
// webhook, crd, ...: see Risks). A rule admits a part with risks only if
// its kubernetes: allow_risks names each one.
//
// Kinds and names are resolved through a Resolver built from the
// cluster's discovery (Table), never guessed: an apiVersion and kind the
// cluster does not serve is refused.
//
// # Parsing, fail-closed
//
// A manifest is YAML or JSON. Whatever Warden classified is what is
// sent: Object.Body is the parsed object, and the caller sends it (as
// JSON), never the caller's text, so no second reading of the text can
// add an object or a field. And Warden reads the text exactly as kubectl
// would, or refuses it:
//
//   - A manifest whose first non-space character is '{' is a stream of
//     JSON objects (kubectl's own test); anything else is YAML, split
//     into documents by k8s.io/apimachinery's YAMLReader, kubectl's own
//     splitter (a line that begins with "---" and holds nothing else but
//     a comment). A chunk that YAML reads as two documents ("..." end
//     markers, "--- text") is refused.
//   - Each YAML document is parsed with go.yaml.in/yaml/v3 into nodes,
//     and again with sigs.k8s.io/yaml (YAML 1.1, as kubectl and the API
//     machinery read it); the two readings must be the same JSON, or the
//     document is refused (unquoted yes/no/on/off/y/n, which YAML 1.1
//     reads as booleans and YAML 1.2 as strings).
//   - Duplicate keys are refused at any depth, in YAML and JSON; so are
//     keys of the top level and of metadata that differ from the fields
//     Warden reads only by case (Kind, Namespace).
//   - Anchors, aliases and merge keys (<<) are refused, not resolved:
//     they make one text stand for another, and an alias can expand a
//     small manifest into a huge one. Explicit tags (!!binary, !foo) are
//     refused too.
//   - Control characters, YAML 1.1's extra line breaks (U+2028, U+2029),
//     a byte-order mark, a carriage return not followed by a line feed,
//     invalid UTF-8, manifests over MaxManifestBytes, more than
//     MaxObjects objects or deeper than MaxDepth are refused.
//
// A v1 List is expanded into its items (one level; a List in a List is
// refused). Other list kinds (PodList) are not resolvable kinds.
//
// # Objects
//
// An object needs apiVersion, kind and metadata.name (or, to be created
// only, metadata.generateName). A namespaced kind goes to its
// metadata.namespace, or the default namespace, which Body then names; a
// namespaced kind without either is refused, and so is a cluster-scoped
// kind that names a namespace (the API server would drop it, and policy
// would see a namespace the object does not have). An object that is in
// the manifest twice, a non-empty status, and managedFields are refused.
//
// Risks are found wherever they are: the walk reads every field of the
// body (matching field names whatever their case), so a pod spec in a
// Deployment, a CronJob's job template or a custom resource is read like
// a Pod's; only string maps (labels, annotations, selectors, a
// ConfigMap's or Secret's data) and a CRD's schemas are skipped. A risky
// field counts when its value is anything but the harmless one (a
// privileged: "true" string counts).
//
// # What it must never do
//
// It must never vouch for what it did not read, nor let the caller's
// text be sent in place of Body. It never reaches the cluster: the
// Resolver is built by the connector from discovery, and whether an
// object exists (create or update) is the connector's to learn
// (ApplyFacts).
package kubeclass
