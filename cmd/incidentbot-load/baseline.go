package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager"
	bolt "go.etcd.io/bbolt"
)

var baselineBucket = []byte("deliveries")

// serveBaseline is the hidden mode "-serve-baseline ADDR DBFILE SECRET
// [MAXBATCHDELAY]": the least a durable webhook receiver can do, to compare
// the real server with. It serves POST /webhooks/pagerduty (read the body,
// capped at 1 MiB; verify the v1 HMAC-SHA256 signature; put event.id → body
// in one bbolt db.Batch; answer 202) and GET /readyz until SIGINT or
// SIGTERM. bbolt has its default options (fsync on every commit,
// MaxBatchDelay 10 ms) unless MAXBATCHDELAY, a Go duration, is given.
func serveBaseline(args []string) int {
	if len(args) != 3 && len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: incidentbot-load -serve-baseline ADDR DBFILE SECRET [MAXBATCHDELAY]")
		return 2
	}
	addr, path, secret := args[0], args[1], args[2]
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	defer db.Close()
	if len(args) == 4 {
		d, err := time.ParseDuration(args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			return 2
		}
		fmt.Fprintf(os.Stderr, "baseline: bbolt MaxBatchDelay %s (bbolt's default: %s), MaxBatchSize %d\n", d, db.MaxBatchDelay, db.MaxBatchSize)
		db.MaxBatchDelay = d
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(baselineBucket); return err }); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/pagerduty", baselineHandler(db, secret))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ready") })
	// The real server's timeouts (cmd/incidentbot newHTTPServer).
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			stop()
		}
	}()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "baseline: shutdown:", err)
		return 1
	}
	return 0
}

func baselineHandler(db *bolt.DB, secret string) http.HandlerFunc {
	secrets := []string{secret}
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, pager.MaxBody))
		if err != nil {
			http.Error(w, "could not read body", http.StatusRequestEntityTooLarge)
			return
		}
		if !pager.VerifySignature(r.Header.Get("X-PagerDuty-Signature"), body, secrets) {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		var env struct {
			Event struct {
				ID string `json:"id"`
			} `json:"event"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.Event.ID == "" {
			http.Error(w, "no event.id", http.StatusBadRequest)
			return
		}
		err = db.Batch(func(tx *bolt.Tx) error {
			return tx.Bucket(baselineBucket).Put([]byte(env.Event.ID), body)
		})
		if err != nil {
			http.Error(w, "could not record the delivery", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}
