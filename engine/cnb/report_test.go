package cnb

import (
	"strings"
	"testing"
)

const sampleReport = `[image]
  tags = ["127.0.0.1:5001/apps/hello:latest"]
  digest = "sha256:155ff608c0041906a34ec2f1d892014aee021ffc2f3a9909534480cd5ceab442"
  manifest-size = 1712

[build]
`

func TestParseReport(t *testing.T) {
	tests := []struct {
		name, in, digest, err string
	}{
		{name: "creator report", in: sampleReport, digest: "sha256:155ff608c0041906a34ec2f1d892014aee021ffc2f3a9909534480cd5ceab442"},
		{name: "no image", in: "[build]\n", err: "no [image] digest"},
		{name: "bad digest", in: "[image]\ndigest = \"sha256:xyz\"\n", err: "not a sha256 digest"},
		{name: "not toml", in: "[image\n", err: "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseReport([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Digest != tc.digest || len(r.Tags) != 1 {
				t.Errorf("report = %+v", r)
			}
		})
	}
}

func TestParseOrder(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{name: "one group", in: "[[order]]\n[[order.group]]\nid = \"a/b\"\nversion = \"1\"\n", want: "a/b@1"},
		{name: "two groups", in: "[[order]]\n[[order.group]]\nid = \"a\"\n[[order.group]]\nid = \"b\"\noptional = true\n[[order]]\n[[order.group]]\nid = \"c\"\n",
			want: "a+b (optional), c"},
		{name: "empty", in: "", err: "no [[order]] groups"},
		{name: "empty group", in: "[[order]]\n", err: "no buildpacks"},
		{name: "no id", in: "[[order]]\n[[order.group]]\nversion = \"1\"\n", err: "without an id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			groups, err := parseOrder([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(groups, ", "); got != tc.want {
				t.Errorf("groups = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzParseReport(f *testing.F) {
	f.Add([]byte(sampleReport))
	f.Add([]byte("[image]\ndigest = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseReport(data)
		if err == nil && !digestRE.MatchString(r.Digest) {
			t.Fatalf("accepted digest %q", r.Digest)
		}
	})
}

func FuzzParseOrder(f *testing.F) {
	f.Add([]byte("[[order]]\n[[order.group]]\nid = \"a/b\"\nversion = \"1\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		groups, err := parseOrder(data)
		if err == nil && len(groups) == 0 {
			t.Fatal("no groups and no error")
		}
	})
}
