// Package acceptance checks that testenv is a real Kubernetes control plane:
// a Ready node that runs pods, garbage collection, ResourceQuota and
// PodSecurity admission, and RBAC. Run it against a started testenv:
//
//	testenv/up && (cd testenv && go test ./acceptance/...)
//
// When the cluster is not reachable every run fails (never skips) with a
// message that says how to start it.
package acceptance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// An image name is required, but kwok never pulls it.
const testImage = "registry.invalid/eventflow/testenv-pause:1"

// simulated puts a pod on kwok's simulated node: it is tainted so that only
// pods that tolerate it land there (real workloads go to the real node).
func simulated(spec corev1.PodSpec) corev1.PodSpec {
	spec.NodeSelector = map[string]string{"type": "kwok"}
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{
		Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpEqual, Value: "fake",
		Effect: corev1.TaintEffectNoSchedule,
	})
	return spec
}

var (
	kubeconfigPath string
	adminConfig    *rest.Config
	admin          *kubernetes.Clientset
)

// KubeconfigPath resolves the testenv kubeconfig the same way the Rust helper
// (crates/eventflow-testenv) does.
func KubeconfigPath() string {
	if p := os.Getenv("EVENTFLOW_TESTENV_KUBECONFIG"); p != "" {
		return p
	}
	state := os.Getenv("EVENTFLOW_TESTENV_DIR")
	if state == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		state = filepath.Join(cache, "eventflow", "testenv", "state")
	}
	return filepath.Join(state, "kubeconfig")
}

func TestMain(m *testing.M) {
	kubeconfigPath = KubeconfigPath()
	if err := connect(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: testenv is not running: run testenv/up (kubeconfig %s, CI=%q): %v\n",
			kubeconfigPath, os.Getenv("CI"), err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return err
	}
	cfg.Timeout = 15 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("API server not reachable: %w", err)
	}
	fmt.Fprintf(os.Stderr, "testenv: Kubernetes %s at %s\n", v.GitVersion, cfg.Host)
	adminConfig, admin = cfg, cs
	return nil
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// freshNamespace creates a uniquely named namespace, deleted when the test ends.
func freshNamespace(t *testing.T, prefix string, labels map[string]string) string {
	t.Helper()
	c := ctx(t)
	ns, err := admin.CoreV1().Namespaces().Create(c, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "acc-" + prefix + "-", Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		err := admin.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	// Pods are admitted only once the namespace's default ServiceAccount exists.
	poll(t, 30*time.Second, "default ServiceAccount in "+ns.Name, func() (bool, error) {
		_, err := admin.CoreV1().ServiceAccounts(ns.Name).Get(c, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	return ns.Name
}

func poll(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true,
		func(context.Context) (bool, error) {
			ok, err := cond()
			if err != nil {
				last = err
				return false, nil
			}
			return ok, nil
		})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, last)
	}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: simulated(corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "app",
					Image: testImage,
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("10m"),
						corev1.ResourceMemory: resource.MustParse("16Mi"),
					}},
				}}}),
			},
		},
	}
}

func runningPods(c context.Context, ns, app string) (int, int, error) {
	pods, err := admin.CoreV1().Pods(ns).List(c, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return 0, 0, err
	}
	running := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	return len(pods.Items), running, nil
}

// (a) A Ready node exists, seen through client-go and through kubectl.
func TestReadyNode(t *testing.T) {
	c := ctx(t)
	nodes, err := admin.CoreV1().Nodes().List(c, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	var ready []string
	for _, n := range nodes.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready = append(ready, n.Name)
			}
		}
	}
	if len(ready) == 0 {
		t.Fatalf("no Ready node among %d nodes", len(nodes.Items))
	}
	t.Logf("Ready nodes: %v", ready)

	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl not found on PATH (apt-get install kubectl): %v", err)
	}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(c, kubectl, "--kubeconfig", kubeconfigPath, "get", "nodes", "--no-headers")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl get nodes: %v\n%s", err, stderr.String())
	}
	found := false
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[1] == "Ready" {
			found = true
		}
	}
	if !found {
		t.Fatalf("kubectl get nodes shows no Ready node:\n%s", out.String())
	}
}

// (b) A 2-replica Deployment gets 2 Running pods; deleting it garbage-collects
// its ReplicaSet and pods.
func TestDeploymentRunsAndIsGarbageCollected(t *testing.T) {
	c := ctx(t)
	ns := freshNamespace(t, "gc", nil)
	if _, err := admin.AppsV1().Deployments(ns).Create(c, deployment("web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	poll(t, 90*time.Second, "2 Running pods", func() (bool, error) {
		total, running, err := runningPods(c, ns, "web")
		return total == 2 && running == 2, err
	})
	rss, err := admin.AppsV1().ReplicaSets(ns).List(c, metav1.ListOptions{})
	if err != nil || len(rss.Items) != 1 {
		t.Fatalf("want 1 ReplicaSet, got %v (err %v)", rss, err)
	}

	err = admin.AppsV1().Deployments(ns).Delete(c, "web", metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
	})
	if err != nil {
		t.Fatalf("delete deployment: %v", err)
	}
	poll(t, 90*time.Second, "garbage collection of the ReplicaSet and its pods", func() (bool, error) {
		rss, err := admin.AppsV1().ReplicaSets(ns).List(c, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods, err := admin.CoreV1().Pods(ns).List(c, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return len(rss.Items) == 0 && len(pods.Items) == 0, nil
	})
}

// (c) With a ResourceQuota of pods: 1, a 2-replica Deployment gets exactly one
// pod and its ReplicaSet records FailedCreate ... exceeded quota.
func TestResourceQuotaLimitsPods(t *testing.T) {
	c := ctx(t)
	ns := freshNamespace(t, "quota", nil)
	_, err := admin.CoreV1().ResourceQuotas(ns).Create(c, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create quota: %v", err)
	}
	// The quota controller must have computed usage before admission counts.
	poll(t, 30*time.Second, "quota status", func() (bool, error) {
		q, err := admin.CoreV1().ResourceQuotas(ns).Get(c, "pods", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		_, ok := q.Status.Hard[corev1.ResourcePods]
		return ok, nil
	})
	if _, err := admin.AppsV1().Deployments(ns).Create(c, deployment("capped", 2), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	var message string
	poll(t, 90*time.Second, `a FailedCreate event mentioning "exceeded quota" on the ReplicaSet`, func() (bool, error) {
		evs, err := admin.CoreV1().Events(ns).List(c, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=ReplicaSet,reason=FailedCreate",
		})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if strings.Contains(e.Message, "exceeded quota") {
				message = e.Message
				return true, nil
			}
		}
		return false, nil
	})
	t.Logf("event: %s", message)
	poll(t, 60*time.Second, "1 Running pod", func() (bool, error) {
		total, running, err := runningPods(c, ns, "capped")
		return total == 1 && running == 1, err
	})
	// And it stays at one.
	time.Sleep(3 * time.Second)
	if total, _, err := runningPods(c, ns, "capped"); err != nil || total != 1 {
		t.Fatalf("want exactly 1 pod under the quota, got %d (err %v)", total, err)
	}
}

// (d) A namespace enforcing the restricted Pod Security level rejects a
// privileged pod at admission (and the same pod is admitted elsewhere, so it is
// PodSecurity that refuses it).
func TestPodSecurityRejectsPrivilegedPod(t *testing.T) {
	c := ctx(t)
	restricted := freshNamespace(t, "psa", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	open := freshNamespace(t, "psa-open", nil)
	pod := func(ns string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: ns},
			Spec: simulated(corev1.PodSpec{Containers: []corev1.Container{{
				Name:            "app",
				Image:           testImage,
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
			}}}),
		}
	}
	_, err := admin.CoreV1().Pods(restricted).Create(c, pod(restricted), metav1.CreateOptions{})
	if err == nil {
		t.Fatalf("privileged pod was admitted into a restricted namespace")
	}
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("want a PodSecurity Forbidden error, got: %v", err)
	}
	t.Logf("rejected: %v", err)

	_, err = admin.CoreV1().Pods(open).Create(c, pod(open), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatalf("the same pod should be admitted in a namespace without enforcement: %v", err)
	}
}

// (e) RBAC is on: a ServiceAccount bound to a Role that allows only `get` on
// pods authenticates with its own token and is refused `create`.
func TestRBACRefusesCreateForGetOnlyServiceAccount(t *testing.T) {
	c := ctx(t)
	ns := freshNamespace(t, "rbac", nil)
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(c, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create serviceaccount: %v", err)
	}
	if _, err := admin.RbacV1().Roles(ns).Create(c, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-getter"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role: %v", err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(c, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "reader-gets-pods"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pod-getter"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create rolebinding: %v", err)
	}
	tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(c, "reader", &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	saConfig := rest.AnonymousClientConfig(adminConfig)
	saConfig.BearerToken = tok.Status.Token
	sa, err := kubernetes.NewForConfig(saConfig)
	if err != nil {
		t.Fatalf("client for serviceaccount: %v", err)
	}

	// `get` is allowed (the pod does not exist, so NotFound, not Forbidden).
	// RBAC reads bindings through an informer, so allow it a moment.
	poll(t, 30*time.Second, "serviceaccount allowed to get pods", func() (bool, error) {
		_, err := sa.CoreV1().Pods(ns).Get(c, "does-not-exist", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, fmt.Errorf("get: %v", err)
	})

	_, err = sa.CoreV1().Pods(ns).Create(c, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "forbidden"},
		Spec:       simulated(corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: testImage}}}),
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("want Forbidden creating a pod as system:serviceaccount:%s:reader, got: %v", ns, err)
	}
	want := fmt.Sprintf(`User "system:serviceaccount:%s:reader" cannot create resource "pods"`, ns)
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("Forbidden error does not name the serviceaccount and verb: %v", err)
	}
	t.Logf("refused: %v", err)
}
