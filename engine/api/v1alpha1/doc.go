// Package v1alpha1 holds Slipway's API: Application, Delivery, Release, Promotion and Preview in
// the slipway.dev/v1alpha1 group version.
//
// +kubebuilder:object:generate=true
// +groupName=slipway.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

// GroupVersion is the group and version of every type in this package.
var GroupVersion = schema.GroupVersion{Group: "slipway.dev", Version: "v1alpha1"}

// SchemeBuilder registers this package's types with a runtime scheme.
var SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

// AddToScheme adds this package's types to a runtime scheme.
var AddToScheme = SchemeBuilder.AddToScheme

func init() {
	SchemeBuilder.Register(&Application{}, &ApplicationList{}, &Delivery{}, &DeliveryList{},
		&Release{}, &ReleaseList{}, &Promotion{}, &PromotionList{}, &Preview{}, &PreviewList{})
}
