package slackfake

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// The builders below make the payloads Slack sends, for the default
// workspace (DefaultTeamID, DefaultTeamDomain, DefaultAppID). They return
// plain maps, so a test can change or delete any field before sending.

// BlockActionPayload is the block_actions payload Slack sends when userID
// clicks the button actionID (with value) on the message messageTS in
// channelID. response_url is left empty: set it, or let AppClient.Interaction
// issue one from its Slack server, which also adds the message.
func BlockActionPayload(userID, channelID, messageTS, actionID, value, triggerID string) map[string]any {
	now := time.Now()
	return map[string]any{
		"type":       "block_actions",
		"token":      DefaultVerificationToken,
		"api_app_id": DefaultAppID,
		"team":       map[string]any{"id": DefaultTeamID, "domain": DefaultTeamDomain},
		"user":       payloadUser(userID),
		"enterprise": nil,
		"container": map[string]any{
			"type": "message", "message_ts": messageTS, "channel_id": channelID, "is_ephemeral": false,
		},
		"channel":               map[string]any{"id": channelID, "name": ""},
		"trigger_id":            triggerID,
		"response_url":          "",
		"is_enterprise_install": false,
		"state":                 map[string]any{"values": map[string]any{}},
		"actions": []any{map[string]any{
			"action_id": actionID,
			"block_id":  blockIDFor(actionID),
			"text":      map[string]any{"type": "plain_text", "text": value, "emoji": true},
			"value":     value,
			"type":      "button",
			"action_ts": slackTS(now),
		}},
	}
}

// ViewSubmissionPayload is the view_submission payload Slack sends when
// userID submits a modal. values is the view's state, keyed by block_id and
// then action_id, e.g. {"title": {"title_input": TextInputValue("DB down")}}.
func ViewSubmissionPayload(userID, callbackID, privateMetadata string, values map[string]map[string]any) map[string]any {
	state := map[string]any{}
	for blockID, actions := range values {
		state[blockID] = actions
	}
	viewID := "V" + strings.ToUpper(randomHex(5))
	return map[string]any{
		"type":       "view_submission",
		"token":      DefaultVerificationToken,
		"api_app_id": DefaultAppID,
		"team":       map[string]any{"id": DefaultTeamID, "domain": DefaultTeamDomain},
		"user":       payloadUser(userID),
		"enterprise": nil,
		"trigger_id": "",
		"view": map[string]any{
			"id":                    viewID,
			"team_id":               DefaultTeamID,
			"type":                  "modal",
			"callback_id":           callbackID,
			"private_metadata":      privateMetadata,
			"title":                 map[string]any{"type": "plain_text", "text": "Incident", "emoji": true},
			"blocks":                []any{},
			"close":                 nil,
			"submit":                map[string]any{"type": "plain_text", "text": "Submit", "emoji": true},
			"state":                 map[string]any{"values": state},
			"hash":                  fmt.Sprintf("%d.%s", time.Now().Unix(), randomHex(4)),
			"clear_on_close":        false,
			"notify_on_close":       false,
			"previous_view_id":      nil,
			"root_view_id":          viewID,
			"app_id":                DefaultAppID,
			"external_id":           "",
			"app_installed_team_id": DefaultTeamID,
			"bot_id":                DefaultBotID,
		},
		"response_urls":         []any{},
		"is_enterprise_install": false,
	}
}

// TextInputValue is the state of a plain_text_input holding value.
func TextInputValue(value string) map[string]any {
	return map[string]any{"type": "plain_text_input", "value": value}
}

// StaticSelectValue is the state of a static_select with the option value
// selected.
func StaticSelectValue(value string) map[string]any {
	return map[string]any{"type": "static_select", "selected_option": map[string]any{
		"text": map[string]any{"type": "plain_text", "text": value, "emoji": true}, "value": value,
	}}
}

// UsersSelectValue is the state of a users_select with userID selected.
func UsersSelectValue(userID string) map[string]any {
	return map[string]any{"type": "users_select", "selected_user": userID}
}

// PinAddedEvent is the pin_added event Slack sends when userID pins msg in
// channelID.
func PinAddedEvent(userID, channelID string, msg Message) map[string]any {
	now := time.Now()
	m := eventMessage(msg)
	m["permalink"] = permalink(DefaultTeamDomain, channelID, msg.TS, msg.ThreadTS)
	m["pinned_to"] = []string{channelID}
	return map[string]any{
		"type":       "pin_added",
		"user":       userID,
		"channel_id": channelID,
		"item": map[string]any{
			"type": "message", "channel": channelID, "message": m,
			"created": now.Unix(), "created_by": userID,
		},
		"item_user":   msg.User,
		"pin_count":   1,
		"pinned_info": map[string]any{"channel": channelID, "pinned_by": userID, "pinned_ts": now.Unix()},
		"event_ts":    slackTS(now),
	}
}

// ReactionAddedEvent is the reaction_added event Slack sends when userID
// reacts with reaction (a name without colons, e.g. "eyes") to the message
// ts in channelID.
func ReactionAddedEvent(userID, channelID, ts, reaction string) map[string]any {
	return map[string]any{
		"type":     "reaction_added",
		"user":     userID,
		"reaction": reaction,
		"item":     map[string]any{"type": "message", "channel": channelID, "ts": ts},
		"event_ts": slackTS(time.Now()),
	}
}

// MessageChangedEvent is the message event of subtype message_changed Slack
// sends when newMsg in channelID is edited; prevText was its text before.
func MessageChangedEvent(channelID string, newMsg Message, prevText string) map[string]any {
	now := time.Now()
	editedAt := now
	if n := len(newMsg.Edited); n > 0 {
		editedAt = newMsg.Edited[n-1].At
	}
	msg := eventMessage(newMsg)
	msg["edited"] = map[string]any{"user": newMsg.User, "ts": slackTS(editedAt)}
	prev := eventMessage(Message{
		TS: newMsg.TS, ThreadTS: newMsg.ThreadTS, User: newMsg.User, BotID: newMsg.BotID, Text: prevText,
	})
	return map[string]any{
		"type":             "message",
		"subtype":          "message_changed",
		"hidden":           true,
		"channel":          channelID,
		"channel_type":     "channel",
		"message":          msg,
		"previous_message": prev,
		"ts":               slackTS(now),
		"event_ts":         slackTS(now),
	}
}

// MessageDeletedEvent is the message event of subtype message_deleted
// Slack sends when the message deletedTS in channelID is deleted.
func MessageDeletedEvent(channelID, deletedTS string) map[string]any {
	now := time.Now()
	return map[string]any{
		"type":             "message",
		"subtype":          "message_deleted",
		"hidden":           true,
		"channel":          channelID,
		"channel_type":     "channel",
		"ts":               slackTS(now),
		"deleted_ts":       deletedTS,
		"event_ts":         slackTS(now),
		"previous_message": map[string]any{"type": "message", "ts": deletedTS},
	}
}

// eventMessage is a message as events show it.
func eventMessage(m Message) map[string]any { return messageFields(&m, DefaultTeamID) }

func payloadUser(userID string) map[string]any {
	return map[string]any{"id": userID, "username": userID, "name": userID, "team_id": DefaultTeamID}
}

// blockIDFor makes a stable block ID that looks like the ones Slack
// generates for blocks without one.
func blockIDFor(actionID string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	h := fnv.New32a()
	h.Write([]byte(actionID))
	n := h.Sum32()
	var b strings.Builder
	for range 5 {
		b.WriteByte(alphabet[n%uint32(len(alphabet))])
		n /= uint32(len(alphabet))
	}
	return b.String()
}

// slackTS formats t as a Slack timestamp, "1700000000.123456".
func slackTS(t time.Time) string {
	micros := t.UnixMicro()
	return fmt.Sprintf("%d.%06d", micros/1e6, micros%1e6)
}
