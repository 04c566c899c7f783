// Package agent is mtscn-node's daemon (`mtscn-node run`), modelled on NFD's
// nfd-worker: it discovers the node's features (package discover) at start
// and every interval and publishes them, only when they changed, either as
// an NFD NodeFeature object in its namespace (nfd-master and nfd-rules/ turn
// it into labels and extended resources) or, without NFD, as labels patched
// onto its own Node. It serves /healthz (200 after the first successful
// publish) and /metrics from its own Prometheus registry.
package agent
