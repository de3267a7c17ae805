// Minimal eventchain publisher (Go, github.com/nats-io/nats.go/jetstream).
package main

import (
	"context"
	"encoding/json"
	"log"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	envelope := map[string]any{
		"touchpoint_id": "wf-2026-000123",
		"channel":       "web_form",
		"occurred_at":   "2026-03-02T09:15:00+08:00",
		"direction":     "inbound",
		"actor":         nil,
		"identities":    []map[string]string{{"kind": "phone", "value": "13800138000"}},
		"payload":       map[string]any{"form_id": "contact-us"},
	}
	data, _ := json.Marshal(envelope)
	msg := &nats.Msg{Subject: "touchpoints.web_form", Data: data, Header: nats.Header{}}
	msg.Header.Set("Nats-Msg-Id", "wf-2026-000123") // = touchpoint_id
	for { // no ack: publish again; the Nats-Msg-Id makes repeats harmless
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ack, err := js.PublishMsg(ctx, msg)
		cancel()
		if err == nil {
			log.Printf("stored as seq %d (duplicate=%v)", ack.Sequence, ack.Duplicate)
			return
		}
		time.Sleep(time.Second)
	}
}
