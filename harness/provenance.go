package harness

import (
	"strings"

	"github.com/faultline/faultline/harness/docker"
	"github.com/faultline/faultline/internal/buildinfo"
)

// Provenance records what produced a run, so that a result can be traced
// to the faultline build, the target version and the exact images used.
type Provenance struct {
	// Faultline is the build of faultline that ran the test.
	Faultline buildinfo.Info `json:"faultline"`
	// Target and TargetVersion name the system under test.
	Target        string `json:"target"`
	TargetVersion string `json:"target_version,omitempty"`
	// Images are the Docker images the run's containers ran.
	Images []ImageUse `json:"images,omitempty"`
}

// ImageUse is one image a run used.
type ImageUse struct {
	// Role says what ran it: "node" for the target's nodes (the clock
	// fault's helper runs the same image).
	Role string `json:"role"`
	// Ref is the image reference, faultline/<name>:<recipe hash>.
	Ref string `json:"ref"`
	// RecipeHash is the hash of everything the image was built from (the
	// tag of a faultline image), empty for other images.
	RecipeHash string `json:"recipe_hash,omitempty"`
}

// newProvenance starts a run's provenance: this faultline and the target.
func newProvenance(target, version string) *Provenance {
	return &Provenance{Faultline: buildinfo.Get(), Target: target, TargetVersion: version}
}

// addImage records that the run's role containers ran image ref.
func (p *Provenance) addImage(role, ref string) {
	if p == nil || ref == "" {
		return
	}
	use := ImageUse{Role: role, Ref: ref}
	if rest, ok := strings.CutPrefix(ref, docker.ImageRepoPrefix); ok {
		if _, tag, ok := strings.Cut(rest, ":"); ok {
			use.RecipeHash = tag
		}
	}
	p.Images = append(p.Images, use)
}
