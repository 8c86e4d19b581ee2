// Package inbox records accepted webhook deliveries as Delivery resources, the durable inbox
// that every later step works from, and finds the webhook secrets of the Applications a delivery
// is about.
package inbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/webhooks/event"
)

// Inbox implements the webhook receiver's Sink and SecretSource over the Kubernetes API.
type Inbox struct {
	// Writer creates Deliveries; it should not be a cached client's writer with retries that
	// could outlive the request.
	Writer client.Writer
	// Reader lists Applications and reads Secrets; a cache-backed reader keeps lookups fast.
	Reader client.Reader
	// Namespace holds the Deliveries and the Applications they are matched against.
	Namespace string
}

var dnsSafe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// DeliveryName derives a Delivery's name from the provider and an event's Key (its delivery id,
// or the DedupKey of providers without a stable one), so that a redelivery collides with the
// first one (AlreadyExists) instead of creating new work.
func DeliveryName(p event.Provider, id string) string {
	lid := strings.ToLower(id)
	if dnsSafe.MatchString(lid) && lid == id && len(string(p))+1+len(lid) <= 63 {
		return string(p) + "-" + lid
	}
	sum := sha256.Sum256([]byte(string(p) + "\x00" + id))
	return string(p) + "-" + hex.EncodeToString(sum[:])[:32]
}

// Record creates the Delivery for ev, named after its Key. It returns created=false for an event
// already recorded; the Delivery keeps the provider's delivery id of the first one.
func (in *Inbox) Record(ctx context.Context, ev event.Event) (bool, error) {
	d := &v1alpha1.Delivery{
		ObjectMeta: metav1.ObjectMeta{
			Name:      DeliveryName(ev.Provider, ev.Key()),
			Namespace: in.Namespace,
		},
		Spec: v1alpha1.DeliverySpec{
			Provider:     string(ev.Provider),
			DeliveryID:   ev.DeliveryID,
			Event:        string(ev.Kind),
			RepoURL:      ev.RepoURL,
			RepoFullName: ev.RepoFullName,
			Ref:          ev.Ref,
			Before:       ev.Before,
			After:        ev.After,
			Comment:      ev.Comment,
			Author:       ev.Author,
			ReceivedAt:   metav1.NewTime(ev.ReceivedAt),
			BodySHA256:   ev.BodySHA256,
		},
	}
	if ev.Unsigned {
		d.Labels = map[string]string{v1alpha1.LabelUnsigned: "true"}
	}
	if pr := ev.PullRequest; pr != nil {
		d.Spec.PullRequest = &v1alpha1.PullRequestRef{Number: pr.Number, HeadRef: pr.HeadRef, HeadSHA: pr.HeadSHA,
			BaseRef: pr.BaseRef, BaseSHA: pr.BaseSHA, Fork: pr.Fork}
	}
	// The Delivery is built from typed fields, so it can hold no unknown or duplicate field:
	// the API server's check for them, a second strict decode of every body, is skipped.
	switch err := in.Writer.Create(ctx, d, client.FieldValidation(metav1.FieldValidationIgnore)); {
	case err == nil:
		return true, nil
	case apierrors.IsAlreadyExists(err):
		return false, nil
	default:
		return false, fmt.Errorf("record delivery %s: %w", d.Name, err)
	}
}

// Secrets returns the webhook secrets of every Application in the namespace that tracks repo.
// allowUnsigned is true only if one of them explicitly allows unsigned deliveries.
func (in *Inbox) Secrets(ctx context.Context, p event.Provider, repo event.Repo) ([][]byte, bool, error) {
	var apps v1alpha1.ApplicationList
	if err := in.Reader.List(ctx, &apps, client.InNamespace(in.Namespace)); err != nil {
		return nil, false, fmt.Errorf("list applications: %w", err)
	}
	want := v1alpha1.NormalizeRepoURL(repo.URL)
	var secrets [][]byte
	allowUnsigned := false
	for _, a := range apps.Items {
		if a.Spec.Source.Provider != string(p) || v1alpha1.NormalizeRepoURL(a.Spec.Source.RepoURL) != want {
			continue
		}
		allowUnsigned = allowUnsigned || a.Spec.Source.AllowUnsignedWebhooks
		for _, ref := range a.Spec.Source.WebhookSecrets {
			var s corev1.Secret
			err := in.Reader.Get(ctx, client.ObjectKey{Namespace: in.Namespace, Name: ref.Name}, &s)
			if apierrors.IsNotFound(err) {
				continue // a missing secret verifies nothing; the WebhooksVerified condition says so
			}
			if err != nil {
				return nil, false, fmt.Errorf("read webhook secret %s of application %s: %w", ref.Name, a.Name, err)
			}
			key := ref.Key
			if key == "" {
				key = "secret"
			}
			if v := s.Data[key]; len(v) > 0 {
				secrets = append(secrets, v)
			}
		}
	}
	return secrets, allowUnsigned, nil
}
