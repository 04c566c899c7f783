package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

// nodeNameExtra is the user extra the ServiceAccount token authenticator
// sets from a token bound to a Node (or to a Pod on a Node); the shipped
// manifests/node-agent/node-admission-policy.yaml reads it.
const nodeNameExtra = "authentication.kubernetes.io/node-name"

// runKubeconfig writes a kubeconfig that authenticates as a ServiceAccount
// with a token from the TokenRequest API, as a pod of that ServiceAccount
// gets one: with -node, bound to that Node object, so the token carries the
// node's name as a DaemonSet pod's projected token does. It then asks the
// API server who the kubeconfig is (SelfSubjectReview) and fails unless
// that is the ServiceAccount, on that node.
func runKubeconfig(ctx context.Context, fs *flag.FlagSet, args []string) error {
	kubeconfig := fs.String("kubeconfig", "", "admin kubeconfig of the cluster (required)")
	sa := fs.String("serviceaccount", "", "NAMESPACE/NAME of the ServiceAccount (required; it must exist)")
	node := fs.String("node", "", "bind the token to this Node (the node-name a DaemonSet pod's token carries)")
	expiration := fs.Duration("expiration", 2*time.Hour, "token lifetime (make e2e's whole run must fit)")
	out := fs.String("out", "", "kubeconfig file to write (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ns, name, ok := strings.Cut(*sa, "/")
	if !ok || ns == "" || name == "" || *out == "" {
		return fmt.Errorf("-serviceaccount NAMESPACE/NAME and -out are required")
	}
	cfg, client, err := clientFor(*kubeconfig)
	if err != nil {
		return err
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(int64(expiration.Seconds())),
	}}
	if *node != "" {
		n, err := client.CoreV1().Nodes().Get(ctx, *node, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("-node: %w", err)
		}
		req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Node", APIVersion: "v1", Name: n.Name, UID: n.UID}
	}
	tr, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for ServiceAccount %s: %w", *sa, err)
	}
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			return err
		}
	}
	user := "system:serviceaccount:" + ns + ":" + name
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: ca}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: user}
	kc.CurrentContext = "e2e"
	if err := os.MkdirAll(filepath.Dir(*out), 0o700); err != nil {
		return err
	}
	if err := clientcmd.WriteToFile(*kc, *out); err != nil {
		return err
	}

	// Who the API server says this kubeconfig is.
	got, err := whoAmI(ctx, *out)
	if err != nil {
		return err
	}
	nodes := got.Extra[nodeNameExtra]
	if got.Username != user || (*node != "" && (len(nodes) != 1 || nodes[0] != *node)) {
		return fmt.Errorf("%s authenticates as %s with %s=%v, want %s on node %q", *out, got.Username, nodeNameExtra, nodes, user, *node)
	}
	fmt.Printf("%s: %s, groups %v, %s=%v, until %s\n", *out, got.Username, got.Groups, nodeNameExtra, nodes,
		tr.Status.ExpirationTimestamp.UTC().Format(time.RFC3339))
	return nil
}

// whoAmI returns the user the API server sees for a kubeconfig.
func whoAmI(ctx context.Context, kubeconfig string) (authenticationv1.UserInfo, error) {
	_, client, err := clientFor(kubeconfig)
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	r, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("SelfSubjectReview: %w", err)
	}
	return r.Status.UserInfo, nil
}

// clientFor returns the client configuration of a kubeconfig file and a
// clientset for it.
func clientFor(kubeconfig string) (*rest.Config, *kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, nil, fmt.Errorf("-kubeconfig %s: %w", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("client for %s: %w", kubeconfig, err)
	}
	return cfg, client, nil
}
