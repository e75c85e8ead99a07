# Proxmox VE workers that join the Talos cluster.
# Changing worker_count adds or removes VMs on the next `terraform apply`.

proxmox_endpoint = "https://pve.home.example.org:8006/"
proxmox_node     = "pve"

cluster_name = "home"
talos_version = "v1.11.5"

worker_count  = 1   # pve-worker-N
worker_cores  = 4
worker_memory = 8192 # MiB

worker_labels = {
  "node.kubernetes.io/pool" = "pve-workers"
}
