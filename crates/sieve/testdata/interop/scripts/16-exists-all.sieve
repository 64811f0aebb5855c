require "fileinto";
if exists ["From", "X-Spam-Flag"] {
    fileinto "Scanned";
}
