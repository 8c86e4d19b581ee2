package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/devenv"
)

type clientFlags struct {
	dir, kubeconfig, namespace string
}

func (f *clientFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "dir", defaultDir(), "dev environment directory (used when no kubeconfig is given)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else the dev environment's)")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "default", "namespace")
}

func (f *clientFlags) client() (client.Client, error) {
	path := f.kubeconfig
	if path == "" {
		path = os.Getenv("KUBECONFIG")
	}
	if path == "" {
		ep, err := devenv.ReadEndpoints(f.dir)
		if err != nil {
			return nil, err
		}
		path = ep.Kubeconfig
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	cfg.Timeout = 15 * time.Second
	scheme, err := devenv.Scheme()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

func newGetCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "get apps|deliveries|releases",
		Short: "Show Applications, Deliveries or Releases as tables",
		Example: `  slipway get apps
  slipway get deliveries -n team-a
  slipway get releases --kubeconfig ~/.kube/config`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"apps", "applications", "deliveries", "releases"},
		RunE: func(cmd *cobra.Command, args []string) error {
			var print func(context.Context, client.Client, string, io.Writer) error
			switch args[0] {
			case "app", "apps", "application", "applications":
				print = printApps
			case "delivery", "deliveries":
				print = printDeliveries
			case "release", "releases", "rel":
				print = printReleases
			default:
				return fmt.Errorf("unknown resource %q: want apps, deliveries or releases", args[0])
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			return print(cmd.Context(), c, f.namespace, cmd.OutOrStdout())
		},
	}
	f.register(cmd)
	return cmd
}

func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func age(t metav1.Time) string {
	d := time.Since(t.Time).Round(time.Second)
	switch {
	case d < time.Minute:
		return d.String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func ready(conds []metav1.Condition) (status, msg string) {
	c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
	if c == nil {
		return "Unknown", ""
	}
	if c.Status == metav1.ConditionTrue {
		return "True", c.Message
	}
	return c.Reason, c.Message
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func printApps(ctx context.Context, c client.Client, ns string, w io.Writer) error {
	var list v1alpha1.ApplicationList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("list applications: %w", err)
	}
	return writeApps(w, ns, list.Items)
}

// writeApps prints the Applications as a table, then a warning for each one that accepts
// unsigned webhook deliveries.
func writeApps(w io.Writer, ns string, apps []v1alpha1.Application) error {
	if len(apps) == 0 {
		fmt.Fprintf(w, "No applications in namespace %s.\n", ns)
		return nil
	}
	var rows [][]string
	var unsigned []string
	for _, a := range apps {
		var envs []string
		for _, e := range a.Spec.Environments {
			s := e.Name + "=-"
			for _, st := range a.Status.Environments {
				if st.Name == e.Name {
					s = fmt.Sprintf("%s=%s/%s", e.Name, orDash(st.Sync), orDash(st.Health))
				}
			}
			envs = append(envs, s)
		}
		status, msg := ready(a.Status.Conditions)
		hooks := webhooksColumn(&a)
		if hooks == unsignedMark {
			unsigned = append(unsigned, fmt.Sprintf("WARNING: application %s accepts unsigned webhooks (spec.source.allowUnsignedWebhooks): "+
				"anyone who can reach the webhook endpoint can start builds of %s", a.Name, a.Spec.Source.RepoURL))
		}
		rows = append(rows, []string{a.Name, a.Spec.Source.RepoURL, a.TrackedBranch(), orDash(a.Status.LatestRelease),
			strings.Join(envs, ","), hooks, status, age(a.CreationTimestamp), msg})
	}
	if err := table(w, "NAME\tREPO\tBRANCH\tRELEASE\tENVIRONMENTS\tWEBHOOKS\tREADY\tAGE\tMESSAGE", rows); err != nil {
		return err
	}
	return warn(w, unsigned)
}

// unsignedMark is what the tables show for an Application, or a Delivery, that takes webhook
// deliveries without a signature.
const unsignedMark = "UNSIGNED"

// webhooksColumn says how an Application's webhook deliveries are checked: UNSIGNED when it
// accepts them without a signature (said by its spec, so before the condition is written),
// verified when they must be signed, else the WebhooksVerified reason (NoWebhookSecret, ...).
func webhooksColumn(a *v1alpha1.Application) string {
	c := meta.FindStatusCondition(a.Status.Conditions, v1alpha1.ConditionWebhooksVerified)
	switch {
	case a.Spec.Source.AllowUnsignedWebhooks, c != nil && c.Reason == v1alpha1.ReasonUnsignedAllowed:
		return unsignedMark
	case c == nil:
		return "-"
	case c.Status == metav1.ConditionTrue:
		return "verified"
	}
	return c.Reason
}

// warn prints each warning on its own line after a blank one.
func warn(w io.Writer, warnings []string) error {
	if len(warnings) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "\n%s\n", strings.Join(warnings, "\n"))
	return err
}

func printDeliveries(ctx context.Context, c client.Client, ns string, w io.Writer) error {
	var list v1alpha1.DeliveryList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("list deliveries: %w", err)
	}
	return writeDeliveries(w, ns, list.Items)
}

// writeDeliveries prints the Deliveries, oldest first, then a warning counting those accepted
// without a signature.
func writeDeliveries(w io.Writer, ns string, items []v1alpha1.Delivery) error {
	if len(items) == 0 {
		fmt.Fprintf(w, "No deliveries in namespace %s.\n", ns)
		return nil
	}
	sort.Slice(items, func(i, j int) bool {
		return items[i].Spec.ReceivedAt.Before(&items[j].Spec.ReceivedAt)
	})
	var rows [][]string
	unsigned := 0
	for _, d := range items {
		var runs []string
		for _, t := range d.Status.Triggered {
			runs = append(runs, t.PipelineRun)
		}
		status, msg := ready(d.Status.Conditions)
		queue := "-"
		if q := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionQueued); q != nil && q.Status == metav1.ConditionTrue {
			queue = q.Message
		}
		signed := "yes"
		if d.Labels[v1alpha1.LabelUnsigned] == "true" {
			signed = unsignedMark
			unsigned++
		}
		rows = append(rows, []string{d.Name, d.Spec.Provider, d.Spec.Event, orDash(d.Spec.Ref), orDash(short(d.Spec.After, 12)),
			signed, orDash(strings.Join(runs, ",")), status, queue, age(d.Spec.ReceivedAt), msg})
	}
	if err := table(w, "NAME\tPROVIDER\tEVENT\tREF\tSHA\tSIGNED\tPIPELINERUNS\tSTATUS\tQUEUE\tAGE\tMESSAGE", rows); err != nil {
		return err
	}
	if unsigned == 0 {
		return nil
	}
	return warn(w, []string{fmt.Sprintf("WARNING: %d of %d deliveries were accepted without a signature, because their Application "+
		"allows unsigned webhooks; nothing proves who sent them (label %s=true)", unsigned, len(items), v1alpha1.LabelUnsigned)})
}

func printReleases(ctx context.Context, c client.Client, ns string, w io.Writer) error {
	var list v1alpha1.ReleaseList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("list releases: %w", err)
	}
	if len(list.Items) == 0 {
		fmt.Fprintf(w, "No releases in namespace %s.\n", ns)
		return nil
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[i].CreationTimestamp.Before(&list.Items[j].CreationTimestamp)
	})
	var rows [][]string
	for _, r := range list.Items {
		var envs []string
		for _, e := range r.Status.Environments {
			envs = append(envs, e.Name+"="+e.Phase)
		}
		digest := r.Spec.Image
		if i := strings.Index(digest, "@sha256:"); i >= 0 {
			digest = "sha256:" + short(digest[i+8:], 12)
		}
		status, msg := ready(r.Status.Conditions)
		signed := "-"
		if r.Spec.Signature != "" {
			signed = "yes"
		}
		rows = append(rows, []string{r.Name, r.Spec.Application, short(r.Spec.SourceSHA, 12), digest,
			scanColumn(r.Spec.Scan), signed, orDash(strings.Join(envs, ",")), status, age(r.CreationTimestamp), msg})
	}
	return table(w, "NAME\tAPP\tSHA\tDIGEST\tSCAN\tSIGNED\tENVIRONMENTS\tREADY\tAGE\tMESSAGE", rows)
}

// scanColumn summarizes a scan: the verdict and the findings by severity (C/H/M/L).
func scanColumn(s *v1alpha1.ScanSummary) string {
	if s == nil {
		return "-"
	}
	verdict := "pass"
	if !s.Passed {
		verdict = "BLOCKED"
	}
	return fmt.Sprintf("%s %dC/%dH/%dM/%dL", verdict, s.Critical, s.High, s.Medium, s.Low)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
