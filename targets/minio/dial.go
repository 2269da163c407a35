package minio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/faultline/faultline/workloads"
)

// s3Config is how a client reaches its objects.
type s3Config struct {
	accessKey, secretKey string
	bucket               string
	region               string
}

// defaultS3 is how faultline's own deployment is reached.
func defaultS3() s3Config {
	return s3Config{accessKey: rootUser, secretKey: rootPassword, bucket: Bucket, region: "us-east-1"}
}

// DialOptions describes the options Dial and Prepare take.
func DialOptions() map[string]string {
	return map[string]string{
		"access-key": "the access key (default " + rootUser + ", the root user of faultline's own MinIO deployment)",
		"secret-key": "its secret key (default that deployment's root password)",
		"bucket":     "the bucket every object lives in (default " + Bucket + "); created unless it exists",
		"region":     "the region requests are signed for (default us-east-1)",
	}
}

// DialWorkloads names the workloads a Client serves.
func DialWorkloads() []string { return []string{"register", "set"} }

// parseDialOptions checks opts against DialOptions; an unknown option or
// a bad value is refused in one line.
func parseDialOptions(opts map[string]string) (s3Config, error) {
	cfg := defaultS3()
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same error for the same options
	for _, k := range keys {
		v := opts[k]
		if v == "" {
			if _, ok := DialOptions()[k]; ok {
				return s3Config{}, fmt.Errorf("minio: option %s: must not be empty", k)
			}
		}
		switch k {
		case "access-key":
			cfg.accessKey = v
		case "secret-key":
			cfg.secretKey = v
		case "bucket":
			cfg.bucket = v
		case "region":
			cfg.region = v
		default:
			known := make([]string, 0, len(DialOptions()))
			for n := range DialOptions() {
				known = append(known, n)
			}
			sort.Strings(known)
			return s3Config{}, fmt.Errorf("minio: unknown option %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	return cfg, nil
}

// prepareTimeout bounds Prepare when Dial calls it.
const prepareTimeout = 10 * time.Second

// Dial opens a client that speaks S3 (minio-go) to the server at addr
// (host:port) only: the client protocol apart from faultline's own MinIO
// deployment, for any server that speaks it with path-style buckets and
// conditional PUTs (If-Match, If-None-Match). It first runs Prepare, so
// the bucket exists. Options are DialOptions; an unknown one is refused
// before anything is sent.
func Dial(ctx context.Context, addr string, opts map[string]string) (workloads.Client, error) {
	cfg, err := parseDialOptions(opts)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	if err := prepare(pctx, addr, cfg); err != nil {
		return nil, err
	}
	return newClient(addr, addr, cfg, slog.Default())
}

// Prepare creates the bucket opts name (DialOptions) on the server at addr
// unless it exists; it is idempotent. faultline's own deployment does it
// in Setup; Dial does it for any other.
func Prepare(ctx context.Context, addr string, opts map[string]string) error {
	cfg, err := parseDialOptions(opts)
	if err != nil {
		return err
	}
	return prepare(ctx, addr, cfg)
}

func prepare(ctx context.Context, addr string, cfg s3Config) error {
	s3, tr, err := newS3(addr, cfg)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if ok, err := s3.Client.BucketExists(cctx, cfg.bucket); err == nil && ok {
		// Nothing to create, so no right to create buckets is needed.
		return nil
	}
	err = s3.Client.MakeBucket(cctx, cfg.bucket, miniogo.MakeBucketOptions{Region: cfg.region})
	var er miniogo.ErrorResponse
	if errors.As(err, &er) && (er.Code == "BucketAlreadyOwnedByYou" || er.Code == "BucketAlreadyExists") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("make bucket %s: %w", cfg.bucket, err)
	}
	return nil
}

// newClient is the one constructor of Client, for NewClient and Dial: a
// client of the S3 server at addr (host:port), called name in logs.
func newClient(name, addr string, cfg s3Config, log *slog.Logger) (*Client, error) {
	s3, tr, err := newS3(addr, cfg)
	if err != nil {
		return nil, err
	}
	return &Client{node: name, bucket: cfg.bucket, s3: s3, http: tr, log: log}, nil
}
