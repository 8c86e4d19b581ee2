package detect

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
)

// pom is the part of a Maven pom.xml detection reads.
type pom struct {
	XMLName    xml.Name `xml:"project"`
	ArtifactID string   `xml:"artifactId"`
	Version    string   `xml:"version"`
	Packaging  string   `xml:"packaging"`
	Parent     struct {
		GroupID    string `xml:"groupId"`
		ArtifactID string `xml:"artifactId"`
	} `xml:"parent"`
	Properties struct {
		JavaVersion string `xml:"java.version"`
	} `xml:"properties"`
	Dependencies []mavenDep `xml:"dependencies>dependency"`
	Plugins      []mavenDep `xml:"build>plugins>plugin"`
}

// mavenDep is a dependency or plugin of a pom.
type mavenDep struct {
	GroupID    string `xml:"groupId"`
	ArtifactID string `xml:"artifactId"`
}

// parsePom decodes a pom.xml. Errors name the line.
func parsePom(data []byte) (*pom, error) {
	var p pom
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	// No entity expansion beyond XML's own five, and no external anything: the decoder knows
	// no DTDs, so a hostile pom cannot reach outside the file.
	if err := dec.Decode(&p); err != nil {
		var syn *xml.SyntaxError
		if ok := asXMLSyntax(err, &syn); ok {
			return nil, fmt.Errorf("line %d: %s", syn.Line, syn.Msg)
		}
		return nil, err
	}
	if p.ArtifactID == "" {
		return nil, fmt.Errorf("no <artifactId> in <project>")
	}
	return &p, nil
}

func asXMLSyntax(err error, target **xml.SyntaxError) bool {
	s, ok := err.(*xml.SyntaxError)
	if ok {
		*target = s
	}
	return ok
}

// springBoot reports whether the pom builds a Spring Boot application.
func (p *pom) springBoot() bool {
	if p.Parent.GroupID == "org.springframework.boot" {
		return true
	}
	for _, d := range append(append([]mavenDep(nil), p.Dependencies...), p.Plugins...) {
		if d.GroupID == "org.springframework.boot" {
			return true
		}
	}
	return false
}

// gradleBuild is what detection reads from build.gradle or build.gradle.kts.
type gradleBuild struct {
	Plugins    map[string]int // plugin id -> line
	MainClass  string
	SpringBoot int // line naming Spring Boot, 0 if none
}

var (
	gradlePluginRE = regexp.MustCompile(`(?:^|\s)id\s*\(?\s*["']([A-Za-z0-9_.-]+)["']|apply\s+plugin\s*:\s*["']([A-Za-z0-9_.-]+)["']|^\s*(application|java|war)\s*$|^\s*` + "`" + `(java-library|application)` + "`")
	gradleMainRE   = regexp.MustCompile(`mainClass(?:Name)?\s*(?:\.set\()?\s*=?\s*\(?\s*["']([A-Za-z0-9_.$]+)["']`)
)

// parseGradle scans a Gradle build script (Groovy or Kotlin) for plugins and the main class.
// A build script is a program; this reads only the common declarative forms.
func parseGradle(data []byte) (*gradleBuild, error) {
	g := &gradleBuild{Plugins: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxFileSize)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "//") {
			continue
		}
		for _, m := range gradlePluginRE.FindAllStringSubmatch(line, -1) {
			for _, id := range m[1:] {
				if id != "" {
					g.Plugins[id] = n
				}
			}
		}
		if m := gradleMainRE.FindStringSubmatch(line); m != nil && g.MainClass == "" {
			g.MainClass = m[1]
		}
		if g.SpringBoot == 0 && strings.Contains(line, "org.springframework.boot") {
			g.SpringBoot = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return g, nil
}
