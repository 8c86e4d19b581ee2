package localrunner

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/container"
	"github.com/tektoncd/pipeline/pkg/substitution"
)

// replacements are the three maps Tekton's substitution helpers take: keys are variable
// names without "$(" and ")", e.g. "params.url" or "tasks.build.results.digest".
type replacements struct {
	str map[string]string
	arr map[string][]string
	obj map[string]map[string]string
}

func newReplacements() replacements {
	return replacements{str: map[string]string{}, arr: map[string][]string{}, obj: map[string]map[string]string{}}
}

func (r replacements) clone() replacements {
	return replacements{str: maps.Clone(r.str), arr: maps.Clone(r.arr), obj: maps.Clone(r.obj)}
}

// paramKeys are the spellings Tekton accepts for a param reference.
var paramKeys = []string{"params.%s", "params[%q]", "params['%s']"}

// addValue registers a param or result value under every key it can be referenced by:
// whole value, array index, object key.
func (r replacements) addValue(keys []string, v v1.ParamValue) {
	for _, k := range keys {
		switch v.Type {
		case v1.ParamTypeArray:
			r.arr[k] = v.ArrayVal
			for i, e := range v.ArrayVal {
				r.str[k+"["+strconv.Itoa(i)+"]"] = e
			}
		case v1.ParamTypeObject:
			r.obj[k] = v.ObjectVal
			for pk, pv := range v.ObjectVal {
				r.str[k+"."+pk] = pv
			}
		default:
			r.str[k] = v.StringVal
		}
	}
}

func (r replacements) addParam(name string, v v1.ParamValue) {
	keys := make([]string, len(paramKeys))
	for i, p := range paramKeys {
		keys[i] = fmt.Sprintf(p, name)
	}
	r.addValue(keys, v)
}

// addParams merges declared defaults with given values, the given ones winning. It returns the
// names of declared params that have neither.
func (r replacements) addParams(specs v1.ParamSpecs, given v1.Params) (missing []string) {
	values := map[string]v1.ParamValue{}
	for _, s := range specs {
		if s.Default != nil {
			values[s.Name] = *s.Default
		}
	}
	for _, p := range given {
		values[p.Name] = p.Value
	}
	for _, s := range specs {
		v, ok := values[s.Name]
		if !ok {
			missing = append(missing, s.Name)
			continue
		}
		// Defaults can reference other params of the same scope; Tekton allows that in
		// string defaults, resolved against the values given.
		if s.Default != nil && !hasParam(given, s.Name) && v.Type == v1.ParamTypeString {
			v.StringVal = substitution.ApplyReplacements(v.StringVal, r.str)
		}
		if v.Type == "" {
			v.Type = v1.ParamTypeString
		}
		r.addParam(s.Name, v)
	}
	// Params passed without a declaration are still substituted; Tekton's validation rejects
	// them for Tasks, but Pipelines propagate them to embedded task specs.
	declared := specs.GetNames()
	for _, p := range given {
		if !slices.Contains(declared, p.Name) {
			r.addParam(p.Name, p.Value)
		}
	}
	return missing
}

func hasParam(ps v1.Params, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

// addTaskResults registers the results of a finished pipeline task as $(tasks.<t>.results.<r>).
func (r replacements) addTaskResults(task string, results []v1.TaskRunResult) {
	for _, res := range results {
		v := res.Value
		if v.Type == "" {
			v.Type = v1.ParamTypeString
		}
		r.addValue([]string{"tasks." + task + ".results." + res.Name}, v)
	}
}

// applyToParams substitutes into a pipeline task's params.
func (r replacements) applyToParams(ps v1.Params) v1.Params {
	return ps.ReplaceVariables(r.str, r.arr, r.obj)
}

// applyToWhen substitutes into when expressions (a copy; the input is left as it is).
func (r replacements) applyToWhen(we v1.WhenExpressions) v1.WhenExpressions {
	cp := make(v1.WhenExpressions, len(we))
	for i := range we {
		cp[i] = *we[i].DeepCopy()
	}
	return cp.ReplaceVariables(r.str, r.arr)
}

// applyToTaskSpec substitutes into the parts of a task spec the local runner executes:
// steps (through Tekton's own step replacement), step template, and result/workspace
// descriptions are left alone.
func (r replacements) applyToTaskSpec(ts *v1.TaskSpec) {
	for i := range ts.Steps {
		container.ApplyStepReplacements(&ts.Steps[i], r.str, r.arr)
	}
}

// unresolved reports the task result references in s that r cannot satisfy.
func (r replacements) unresolvedResults(exprs []string) []string {
	var missing []string
	for _, ref := range v1.NewResultRefs(exprs) {
		key := "tasks." + ref.PipelineTask + ".results." + ref.Result
		_, s := r.str[key]
		_, a := r.arr[key]
		_, o := r.obj[key]
		if !s && !a && !o {
			missing = append(missing, ref.PipelineTask+"."+ref.Result)
		}
	}
	return missing
}

// pipelineTaskExpressions lists the $(...) expressions in a pipeline task's params and when.
func pipelineTaskExpressions(pt *v1.PipelineTask) []string {
	var out []string
	for _, p := range pt.Params {
		e, _ := p.GetVarSubstitutionExpressions()
		out = append(out, e...)
	}
	for i := range pt.When {
		e, _ := pt.When[i].GetVarSubstitutionExpressions()
		out = append(out, e...)
	}
	return out
}

// resultValue parses what a step wrote to a result file according to the declared type.
func resultValue(t v1.ResultsType, raw string) (v1.ParamValue, error) {
	switch t {
	case v1.ResultsTypeArray:
		var a []string
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			return v1.ParamValue{}, fmt.Errorf("array result is not a JSON array of strings: %w", err)
		}
		return v1.ParamValue{Type: v1.ParamTypeArray, ArrayVal: a}, nil
	case v1.ResultsTypeObject:
		var o map[string]string
		if err := json.Unmarshal([]byte(raw), &o); err != nil {
			return v1.ParamValue{}, fmt.Errorf("object result is not a JSON object of strings: %w", err)
		}
		return v1.ParamValue{Type: v1.ParamTypeObject, ObjectVal: o}, nil
	default:
		return v1.ParamValue{Type: v1.ParamTypeString, StringVal: raw}, nil
	}
}
