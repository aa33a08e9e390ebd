package api

import (
	"context"
	"net/http"

	"flotilla.io/flotilla/internal/wire"
)

// list serves a GET that returns what fetch returns.
func list[T any](fetch func(context.Context) (T, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		v, err := fetch(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, r, http.StatusOK, v)
		return nil
	}
}

func (s *server) addSource(w http.ResponseWriter, r *http.Request) error {
	var spec wire.SourceSpec
	if err := decode(w, r, maxOpBody, s.limits.BodyTimeout, &spec); err != nil {
		return err
	}
	info, err := s.hub.AddSource(r.Context(), spec)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, info)
	return nil
}

func (s *server) deleteSource(w http.ResponseWriter, r *http.Request) error {
	if err := s.hub.DeleteSource(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req wire.TokenRequest
	if err := decode(w, r, maxOpBody, s.limits.BodyTimeout, &req); err != nil {
		return err
	}
	resp, err := s.hub.CreateToken(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, resp)
	return nil
}

func (s *server) putGroup(w http.ResponseWriter, r *http.Request) error {
	var spec wire.GroupSpec
	if err := decode(w, r, maxOpBody, s.limits.BodyTimeout, &spec); err != nil {
		return err
	}
	info, err := s.hub.PutGroup(r.Context(), spec)
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, info)
	return nil
}

func (s *server) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	if err := s.hub.DeleteGroup(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
