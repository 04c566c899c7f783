package devcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/util/keyutil"
)

// pki is the control plane's certificate authority and the files it issued.
type pki struct {
	caFile                string
	serverCert, serverKey string
	adminCert, adminKey   string
	// The client certificate kube-apiserver presents to kubelets (logs,
	// exec, port-forward).
	kubeletClientCert, kubeletClientKey string
	serviceAccountKey                   string
	// PEM of the CA and of the admin's certificate and key, for the
	// kubeconfig and the in-process clients.
	caPEM, adminCertPEM, adminKeyPEM []byte
	// The CA, to issue further client certificates (IssueKubeconfig).
	caCert *x509.Certificate
	caKey  crypto.Signer
}

// certValidity is long enough for any demo and short enough to be obviously
// throwaway.
const certValidity = 7 * 24 * time.Hour

// newPKI creates a CA, a serving certificate for 127.0.0.1/localhost, a
// client certificate for a system:masters admin and a service-account
// signing key, all under dir.
func newPKI(dir string) (*pki, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mtscn-devcluster-ca"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	p := &pki{
		caFile:            filepath.Join(dir, "ca.crt"),
		serverCert:        filepath.Join(dir, "apiserver.crt"),
		serverKey:         filepath.Join(dir, "apiserver.key"),
		adminCert:         filepath.Join(dir, "admin.crt"),
		adminKey:          filepath.Join(dir, "admin.key"),
		kubeletClientCert: filepath.Join(dir, "apiserver-kubelet-client.crt"),
		kubeletClientKey:  filepath.Join(dir, "apiserver-kubelet-client.key"),
		serviceAccountKey: filepath.Join(dir, "sa.key"),
		caCert:            caCert,
		caKey:             caKey,
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(p.caFile, p.caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("writing CA certificate: %w", err)
	}

	serverTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	certPEM, keyPEM, err := issue(serverTmpl, caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("issuing serving certificate: %w", err)
	}
	if err := writePair(p.serverCert, certPEM, p.serverKey, keyPEM); err != nil {
		return nil, err
	}

	adminTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{CommonName: "mtscn-admin", Organization: []string{"system:masters"}},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	p.adminCertPEM, p.adminKeyPEM, err = issue(adminTmpl, caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("issuing admin client certificate: %w", err)
	}
	if err := writePair(p.adminCert, p.adminCertPEM, p.adminKey, p.adminKeyPEM); err != nil {
		return nil, err
	}

	// As kubeadm's apiserver-kubelet-client: a kubelet that trusts the CA
	// for client certificates serves the API server's logs and exec calls.
	certPEM, keyPEM, err = p.issueClient("kube-apiserver-kubelet-client", []string{"system:masters"}, 4)
	if err != nil {
		return nil, fmt.Errorf("issuing kubelet client certificate: %w", err)
	}
	if err := writePair(p.kubeletClientCert, certPEM, p.kubeletClientKey, keyPEM); err != nil {
		return nil, err
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating service-account key: %w", err)
	}
	saPEM, err := keyutil.MarshalPrivateKeyToPEM(saKey)
	if err != nil {
		return nil, fmt.Errorf("encoding service-account key: %w", err)
	}
	if err := os.WriteFile(p.serviceAccountKey, saPEM, 0o600); err != nil {
		return nil, fmt.Errorf("writing service-account key: %w", err)
	}
	return p, nil
}

// issueClient issues a client certificate for user in groups.
func (p *pki) issueClient(user string, groups []string, serial int64) (certPEM, keyPEM []byte, err error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: user, Organization: groups},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return issue(tmpl, p.caCert, p.caKey)
}

// issue signs tmpl with the CA and returns the certificate and a fresh key
// in PEM.
func issue(tmpl, ca *x509.Certificate, caKey crypto.Signer) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signing certificate: %w", err)
	}
	keyPEM, err = keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

func writePair(certFile string, certPEM []byte, keyFile string, keyPEM []byte) error {
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", certFile, err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", keyFile, err)
	}
	return nil
}
