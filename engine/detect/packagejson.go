package detect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// packageJSON is the part of a Node.js package.json that detection reads.
type packageJSON struct {
	Name            string            `json:"name"`
	Main            string            `json:"main"`
	Scripts         map[string]string `json:"scripts"`
	Engines         map[string]string `json:"engines"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
}

// has reports whether the package depends on dep, at run time or for development.
func (p *packageJSON) has(dep string) bool {
	_, ok := p.Dependencies[dep]
	if !ok {
		_, ok = p.DevDependencies[dep]
	}
	return ok
}

// parsePackageJSON decodes a package.json. Errors name the line and column of the problem.
func parsePackageJSON(data []byte) (*packageJSON, error) {
	var p packageJSON
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, jsonError(data, err)
	}
	return &p, nil
}

// jsonError turns a decoding error into one naming the line and column where it happened.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var off int64
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
		if typ.Field != "" {
			err = fmt.Errorf("field %q: want %s, got %s", typ.Field, typ.Type, typ.Value)
		}
	default:
		return err
	}
	line, col := lineCol(data, off)
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}
