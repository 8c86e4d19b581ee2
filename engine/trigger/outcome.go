package trigger

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"slipway.dev/slipway/engine/api/v1alpha1"
)

// note is one reason and message for a Delivery's status.
type note struct{ reason, msg string }

// outcome collects what handling a Delivery did, to be written onto its status in one update.
type outcome struct {
	final     *note // the whole Delivery needed no work
	triggered []v1alpha1.TriggeredRun
	notes     []note // per-Application results other than a plain run
	commands  []note
	admits    []*v1alpha1.Application
}

func (o *outcome) ignore(reason, msg string) *outcome {
	o.final = &note{reason, msg}
	return o
}

// add records a per-Application result, with or without a run.
func (o *outcome) add(app, flow, run, reason, msg string) {
	o.triggered = append(o.triggered, v1alpha1.TriggeredRun{Application: app, Flow: flow, PipelineRun: run})
	if reason != v1alpha1.ReasonSucceeded || run == "" {
		o.notes = append(o.notes, note{reason, app + ": " + msg})
	}
}

// run records a run created.
func (o *outcome) run(app, flow, run string) {
	for _, t := range o.triggered {
		if t.PipelineRun == run {
			return
		}
	}
	o.triggered = append(o.triggered, v1alpha1.TriggeredRun{Application: app, Flow: flow, PipelineRun: run})
}

func (o *outcome) command(reason, msg string) { o.commands = append(o.commands, note{reason, msg}) }

func (o *outcome) admit(app *v1alpha1.Application) {
	for _, a := range o.admits {
		if a.Name == app.Name {
			return
		}
	}
	o.admits = append(o.admits, app)
}

// apply writes the outcome onto a Delivery's status: Ready (True once everything it asks for
// exists or is known to need nothing; False with Stalled for an invalid spec), Superseded and
// Command.
func (o *outcome) apply(st *v1alpha1.DeliveryStatus, gen int64) {
	reason, msg := o.summary()
	// Keep the queue positions the queue may already have written for the same runs.
	for i := range o.triggered {
		for _, old := range st.Triggered {
			if old.PipelineRun != "" && old.PipelineRun == o.triggered[i].PipelineRun {
				o.triggered[i].QueuePosition, o.triggered[i].QueueLength = old.QueuePosition, old.QueueLength
			}
		}
	}
	st.Triggered = o.triggered
	st.ObservedGeneration = gen
	ready := metav1.ConditionTrue
	if reason == v1alpha1.ReasonInvalidSpec {
		ready = metav1.ConditionFalse
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
			Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: ready,
		Reason: reason, Message: msg, ObservedGeneration: gen})
	var superseded []string
	for _, n := range o.notes {
		if n.reason == v1alpha1.ReasonSuperseded {
			superseded = append(superseded, n.msg)
		}
	}
	if len(superseded) > 0 {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionSuperseded, Status: metav1.ConditionTrue,
			Reason: v1alpha1.ReasonSuperseded, Message: strings.Join(superseded, "; "), ObservedGeneration: gen})
	}
	if len(o.commands) > 0 {
		meta.SetStatusCondition(&st.Conditions, commandCondition(o.commands, gen))
	}
	setQueuedCondition(st, gen)
}

// summary picks the Ready reason: the ignore reason; else InvalidSpec if any spec was invalid;
// else Succeeded if any run was created; else the first command's or Application's reason.
func (o *outcome) summary() (string, string) {
	if o.final != nil && len(o.commands) == 0 {
		return o.final.reason, o.final.msg
	}
	var msgs []string
	runs := 0
	for _, t := range o.triggered {
		if t.PipelineRun != "" {
			runs++
		}
	}
	invalid := false
	for _, n := range o.notes {
		msgs = append(msgs, n.msg)
		invalid = invalid || n.reason == v1alpha1.ReasonInvalidSpec
	}
	all := append(append([]note{}, o.notes...), o.commands...)
	switch {
	case invalid:
		return v1alpha1.ReasonInvalidSpec, strings.Join(append([]string{fmt.Sprintf("triggered %d pipeline run(s)", runs)}, msgs...), "; ")
	case runs > 0:
		return v1alpha1.ReasonSucceeded, strings.Join(append([]string{fmt.Sprintf("triggered %d pipeline run(s)", runs)}, msgs...), "; ")
	case len(o.commands) > 0:
		c := commandCondition(o.commands, 0)
		return c.Reason, c.Message
	case len(all) > 0:
		for _, n := range all {
			if n.reason == v1alpha1.ReasonSucceeded {
				return n.reason, strings.Join(msgs, "; ")
			}
		}
		return all[0].reason, strings.Join(msgs, "; ")
	}
	return v1alpha1.ReasonSucceeded, "nothing to do"
}
