variable "worker_count" {
  description = "How many Proxmox VM workers to run"
  type        = number
  default     = 1

  validation {
    condition     = var.worker_count >= 0 && var.worker_count <= 4
    error_message = "The Proxmox host has room for at most 4 workers."
  }
}

variable "worker_cores" {
  type    = number
  default = 4
}

variable "worker_memory" {
  type    = number
  default = 8192
}
