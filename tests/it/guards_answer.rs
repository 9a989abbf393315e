//! Filters and antiflood, on one castellan and across replicas.
