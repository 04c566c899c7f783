// Command etcd is etcd's own server main, built from the go.etcd.io/etcd
// module version that k8s.io/kubernetes pins, so that integration tests and
// benchmarks run against the same etcd as Kubernetes' own CI. hack/etcd.sh
// builds it into bin/etcd.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
